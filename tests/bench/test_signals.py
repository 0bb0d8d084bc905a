import numpy as np

from bench.signals import cross_entropy, logit_scale


def test_loss_does_not_saturate_when_p_y_rounds_to_one():
    # Three confident members: p_y is 1.0 in float64 for all of them, but their margins differ.
    probs = np.array([[1.0, 1e-20, 0.0], [1.0, 1e-25, 1e-25], [1.0, 1e-30, 0.0]])
    loss = cross_entropy(probs, np.zeros(3, dtype=int))
    assert (loss > 0).all() and len(set(loss.tolist())) == 3
    assert np.argsort(loss).tolist() == [2, 1, 0]
    assert np.allclose(loss, [1e-20, 2e-25, 1e-30], rtol=1e-6)


def test_loss_matches_minus_log_p_where_p_is_resolved_and_stays_finite_at_zero():
    probs = np.array([[0.2, 0.8], [0.5, 0.5], [0.0, 1.0]])
    loss = cross_entropy(probs, np.array([0, 1, 0]))
    assert np.allclose(loss[:2], [-np.log(0.2), -np.log(0.5)])
    assert np.isfinite(loss[2]) and loss[2] > 600


def test_logit_scale_keeps_its_precision_near_one():
    phi = logit_scale(np.array([[1.0, 1e-20], [1.0, 1e-30]]), np.array([0, 0]))
    assert np.allclose(phi, [20 * np.log(10), 30 * np.log(10)])

