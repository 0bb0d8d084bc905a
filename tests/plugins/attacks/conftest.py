"""A context made of fixed model outputs, for fast unit tests of an attack's scoring logic (no training).

It offers the parts of ``bench.AttackContext`` the attacks use: ``candidates``, ``target``, ``shadows(n)``
(models, their pool and the inclusion matrix), ``rng``, ``seed``, ``track``, ``set_threshold`` and ``export``.
The end-to-end tests (``@pytest.mark.slow``) run the same attacks through the harness on trained models.
"""

import os
import types
from pathlib import Path

import numpy as np
import pytest


class FakeShadows:
    def __init__(self, models, pool, inclusion):
        self.models, self.pool, self.inclusion = list(models), pool, np.asarray(inclusion, dtype=bool)

    def __iter__(self):
        return iter(self.models)

    def __getitem__(self, i):
        return self.models[i]

    def __len__(self):
        return len(self.models)


class FakeContext:
    def __init__(self, candidates, target, shadows=None, track=None, seed=0):
        self.candidates, self.target, self._shadows = candidates, target, shadows
        self.track = track or types.SimpleNamespace()
        self.seed, self.rng = seed, np.random.default_rng(seed)
        self.threshold, self.exports, self.shadow_requests = None, {}, []

    def shadows(self, n, *, online=False):
        self.shadow_requests.append(n)
        assert n <= len(self._shadows), "the test gave fewer shadows than the attack asked for"
        return FakeShadows(self._shadows.models[:n], self._shadows.pool, self._shadows.inclusion[:n])

    def set_threshold(self, threshold):
        self.threshold = float(threshold)

    def export(self, name, values):
        self.exports[name] = values


@pytest.fixture
def fake_context():
    """``fake_context(candidates, target, shadows=FakeShadows(...), track=...)``."""
    return FakeContext


@pytest.fixture
def fake_shadows():
    return FakeShadows


# The project's ``shared/conformance/`` fixtures (reference outputs, not source: never copied into the tree), beside
# the checkout, or where PRIVBENCH_CONFORMANCE points; ``conformance_SHA256SUMS`` pins the files the tests were written on.
CONFORMANCE = Path(os.environ.get("PRIVBENCH_CONFORMANCE") or Path(__file__).resolve().parents[3].parent / "shared" / "conformance")
SUMS = Path(__file__).resolve().parent / "conformance_SHA256SUMS"


def conformance(name):
    """(arrays, metrics) of ``shared/conformance/<name>.npz|.json``: a reference implementation's outputs."""
    import json

    path = CONFORMANCE / f"{name}.npz"
    if not path.exists():
        pytest.fail(f"conformance fixture missing: {path} (the project's shared/ folder sits beside the checkout; "
                    "elsewhere set PRIVBENCH_CONFORMANCE to its conformance/ folder)")
    return np.load(path), json.loads((CONFORMANCE / f"{name}.json").read_text())


@pytest.fixture(scope="module")
def lira_fixture():
    return conformance("lira_official")


@pytest.fixture(scope="module")
def rmia_fixture():
    return conformance("rmia_official")
