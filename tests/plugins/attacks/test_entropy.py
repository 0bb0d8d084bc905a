import numpy as np
import pytest

from bench.testing import make_context, make_session
from plugins.attacks._shared import entropy


@pytest.fixture(scope="module")
def session():
    return make_session()


def test_entropy_ignores_the_label():
    p = np.array([[0.9, 0.05, 0.05], [1 / 3, 1 / 3, 1 / 3]])
    assert np.allclose(entropy(p), [-(0.9 * np.log(0.9) + 0.1 * np.log(0.05)), np.log(3)])
    from plugins.attacks.entropy import EntropyAttack

    assert np.allclose(EntropyAttack.signal(p, np.array([0, 1])), EntropyAttack.signal(p, np.array([2, 0])))


@pytest.mark.slow
def test_scores_are_negative_log_entropy_with_shadow_threshold(session):
    ctx, _ = make_context("entropy", track="synthetic-blobs", session=session, per_class=False)
    scores = session.registry.attack("entropy", per_class=False).score(ctx)
    h = entropy(ctx.target._predictor.predict_scores(ctx.candidates.x))
    assert np.allclose(scores, -np.log(np.maximum(h, 1e-300)))  # −H on a log scale: the same order
    assert np.array_equal(np.argsort(scores, kind="stable"), np.argsort(-h, kind="stable")) or (np.diff(np.sort(h)) == 0).any()
    assert ctx.threshold is not None and ctx.budget.used["shadow_models"] == 1
