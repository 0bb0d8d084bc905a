"""The CIFAR architectures: airbench-style (fast GPU recipe) and WRN-28-2 (the LiRA paper's target)."""

import pytest
import torch

from bench.training import build_model
from plugins.tracks.cifar import AIRBENCH, WRN_28_2


@pytest.mark.parametrize("recipe,params", [(AIRBENCH, (1_000_000, 3_000_000)), (WRN_28_2, (1_400_000, 1_550_000))], ids=["airbench", "wrn-28-2"])
def test_builds_and_runs(recipe, params):
    m = build_model(recipe, (3, 32, 32), 100)
    n = sum(p.numel() for p in m.parameters())
    assert params[0] < n < params[1]
    assert m(torch.randn(2, 3, 32, 32)).shape == (2, 100)
