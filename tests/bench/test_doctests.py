"""The docstring examples in the public modules run and hold."""

import doctest
import importlib

import pytest

MODULES = ["bench._api", "bench._recipe", "bench.metrics", "bench.signals", "bench.leaderboard"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
