import numpy as np
import pytest

from bench.metrics import auc
from bench.testing import make_context, make_session
from plugins.attacks._shared import entropy, modified_entropy


def test_modified_entropy_formula_and_wrong_confident_predictions():
    p = np.array([[0.7, 0.2, 0.1]])
    want = -(0.3 * np.log(0.7)) - 0.2 * np.log(0.8) - 0.1 * np.log(0.9)
    assert np.isclose(modified_entropy(p, np.array([0]))[0], want)
    confident = np.array([[0.98, 0.01, 0.01]])
    # Plain entropy cannot tell a confident right from a confident wrong prediction; Mentr can.
    assert modified_entropy(confident, np.array([0]))[0] < 0.1 < modified_entropy(confident, np.array([1]))[0]
    assert np.isclose(entropy(confident)[0], entropy(confident[:, ::-1])[0])
    # Monotonically decreasing in p_y.
    grid = np.linspace(0.1, 0.99, 20)
    probs = np.stack([grid, (1 - grid) / 2, (1 - grid) / 2], axis=1)
    assert np.all(np.diff(modified_entropy(probs, np.zeros(20, dtype=int))) < 0)


@pytest.mark.slow
def test_attack_runs_and_beats_chance():
    session = make_session()
    ctx, is_member = make_context("mentropy", track="synthetic-blobs", session=session)
    scores = session.registry.attack("mentropy").score(ctx)
    assert ctx.threshold == 0.0
    assert auc(scores, is_member) > 0.55


def test_modified_entropy_keeps_confident_members_apart():
    probs = np.array([[1.0, 1e-20], [1.0, 1e-30], [0.7, 0.3]])
    m = modified_entropy(probs, np.array([0, 0, 0]))
    assert m[1] < m[0] < m[2] and m[1] > 0
    p, q = 0.7, 0.3  # Song & Mittal's formula where nothing rounds
    assert np.isclose(m[2], -(1 - p) * np.log(p) - q * np.log(1 - q))
