import math

import numpy as np
import pytest

from bench.epsilon import epsilon_lower_bound


def _randomized_response(eps: float, n: int, seed: int):
    """The ε-DP mechanism whose best test reaches ε exactly: a member says 1 with probability e^ε / (1 + e^ε)."""
    rng = np.random.default_rng(seed)
    truth = np.arange(2 * n) < n
    p = math.exp(eps) / (1 + math.exp(eps))
    said = np.where(truth, rng.random(2 * n) < p, rng.random(2 * n) < 1 - p)
    return said.astype(float), truth


def test_bound_approaches_but_never_exceeds_the_mechanisms_epsilon():
    for seed in range(5):
        scores, truth = _randomized_response(1.0, 50_000, seed)
        bound = epsilon_lower_bound(scores, truth, [0.5], delta=0.0)
        assert 0.85 < bound.epsilon <= 1.0
        assert bound.threshold == 0.5 and bound.fpr_upper < 0.3


def test_coin_flip_audits_to_zero():
    rng = np.random.default_rng(0)
    truth = rng.random(4000) < 0.5
    bound = epsilon_lower_bound(rng.random(4000), truth, [0.5, 0.9, 0.99])
    assert bound.epsilon < 0.2


def test_more_thresholds_cost_confidence_per_threshold():
    scores, truth = _randomized_response(2.0, 2000, 1)
    one = epsilon_lower_bound(scores, truth, [0.5], delta=0.0)
    three = epsilon_lower_bound(scores, truth, [0.5, 2.0, 3.0], delta=0.0)  # the others are useless thresholds
    assert three.epsilon < one.epsilon  # Bonferroni: α is split over every threshold tried


def test_bad_input_names_the_problem():
    with pytest.raises(ValueError, match="calibrated on shadow models"):
        epsilon_lower_bound([0.1, 0.9], [False, True], [])
    with pytest.raises(ValueError, match="both members and non-members"):
        epsilon_lower_bound([0.1, 0.9], [True, True], [0.5])
    with pytest.raises(ValueError, match="non-finite"):
        epsilon_lower_bound([np.nan, 0.9], [False, True], [0.5])
