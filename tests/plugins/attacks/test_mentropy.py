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


@pytest.mark.parametrize("attack", ["mentropy", "entropy"])
def test_a_class_threshold_subtracted_from_the_signal_keeps_confident_examples_apart(attack):
    """Mentr and H are about 1e-30 for confident outputs; version 2 (mentropy) and 1 (entropy) subtracted a class
    threshold of about 1e-3 from −Mentr / −H, which rounded every such score to −τ_y: a tie at the member end
    (10–37 % of fashion-mnist's mentropy scores). On the −log scale they stay apart and in order."""
    from plugins.attacks.entropy import EntropyAttack
    from plugins.attacks.mentropy import ModifiedEntropyAttack

    signal = {"mentropy": ModifiedEntropyAttack.signal, "entropy": lambda p, y: EntropyAttack.signal(p, y)}[attack]
    rest = np.array([1e-9, 1e-12, 1e-15, 1e-18])
    probs = np.stack([1 - rest, rest], axis=1).astype(np.float32)
    y = np.zeros(4, dtype=int)
    tau = signal(np.array([[0.99, 0.01]]), np.zeros(1, dtype=int))[0]  # a class threshold at a moderate confidence
    scores = signal(probs, y) - tau
    assert np.all(np.diff(scores) > 1) and np.all(scores > 0)  # more confident, higher; all above the threshold
