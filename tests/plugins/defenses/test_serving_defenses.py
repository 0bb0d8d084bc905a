"""label-only, top-k, rounding, confidence-clamp: what a served query exposes, and that the label never changes."""

import numpy as np
import pytest

from bench import Predictor
from bench._plugins import load_plugins
from plugins.defenses.confidence_clamp import clamp_confidence


class Fixed(Predictor):
    """A predictor that answers fixed probability vectors (row i for query i)."""

    def __init__(self, p):
        self.p = np.asarray(p, dtype=np.float64)

    def predict_scores(self, x):
        return self.p[np.asarray(x, dtype=int)]


@pytest.fixture(scope="module")
def registry():
    return load_plugins()[1]


@pytest.fixture(scope="module")
def probs():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(500, 10)) * rng.uniform(0.1, 12, size=(500, 1))
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[0] = np.eye(10)[3]  # an exactly one-hot row
    p[1] = np.full(10, 0.1)  # a uniform row (a tie: argmax is the first class)
    return p


def serve(registry, name, probs, **params):
    return registry.defense(name, **params).serve(Fixed(probs))


def test_label_only_exposes_no_scores(registry, probs):
    served = serve(registry, "label-only", probs)
    s = served.predict_scores(np.arange(len(probs)))
    assert set(np.unique(s)) == {0.0, 1.0} and (s.sum(1) == 1).all()
    assert (s.argmax(1) == probs.argmax(1)).all()
    assert (served.predict_labels(np.arange(len(probs))) == probs.argmax(1)).all()
    # two inputs with the same label but very different confidence look identical
    same = np.flatnonzero(probs.argmax(1) == probs[2].argmax())
    assert len({tuple(row) for row in s[same]}) == 1


def test_top_k_keeps_k_scores_and_the_label(registry, probs):
    s = serve(registry, "top-k", probs, k=2).predict_scores(np.arange(len(probs)))
    assert ((s > 0).sum(1) <= 2).all() and np.allclose(s.sum(1), 1)
    assert (s.argmax(1) == probs.argmax(1)).all()
    top2 = np.sort(probs, 1)[:, -2:]
    assert np.allclose(np.sort(s, 1)[:, -2:], top2 / top2.sum(1, keepdims=True))


def test_rounding_rounds_and_keeps_labels(registry, probs):
    served = serve(registry, "rounding", probs, decimals=1)
    s = served.predict_scores(np.arange(len(probs)))
    assert np.allclose(s, np.round(s, 1)) and np.abs(s - probs).max() <= 0.05 + 1e-12
    assert len(np.unique(s)) <= 11
    assert (served.predict_labels(np.arange(len(probs))) == probs.argmax(1)).all()


@pytest.mark.parametrize("confidence,budget", [(0.8, 1.0), (0.5, 0.3), (0.95, 2.0)])
def test_confidence_clamp_keeps_the_argmax_within_budget(probs, confidence, budget):
    out = clamp_confidence(probs, confidence, budget)
    assert (out.argmax(1) == probs.argmax(1)).all()
    assert np.allclose(out.sum(1), 1) and (out >= 0).all()
    assert (np.abs(out - probs).sum(1) <= budget + 1e-9).all()
    # every top probability moves toward `confidence` (where the defender's classifier is undecided), never past it
    before, after = probs.max(1), out.max(1)
    assert (np.abs(after - confidence) <= np.abs(before - confidence) + 1e-12).all()
    # with a large budget, rows where the label allows it land exactly on `confidence`
    full = clamp_confidence(probs, confidence, 2.0)
    second = np.sort(probs, 1)[:, -2]
    feasible = second / (1 - probs.max(1) + second + 1e-300) < confidence
    assert np.allclose(full.max(1)[feasible], confidence)


def test_confidence_clamp_flattens_confidence_between_members_and_nonmembers(registry):
    # "members" near one-hot, "non-members" less sure: after the clamp their top confidences coincide
    members = np.tile(np.r_[0.999, np.full(9, 0.001 / 9)], (5, 1))
    nonmembers = np.tile(np.r_[0.9, np.full(9, 0.1 / 9)], (5, 1))
    served = serve(registry, "confidence-clamp", np.vstack([members, nonmembers]), confidence=0.8, budget=1.0)
    s = served.predict_scores(np.arange(10))
    assert np.allclose(s.max(1), 0.8)
    assert (served.predict_labels(np.arange(10)) == 0).all()
