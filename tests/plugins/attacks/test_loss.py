import numpy as np

from bench.metrics import auc, youden_threshold
from bench.signals import cross_entropy
from bench.testing import make_context


def test_loss_scores_are_negative_cross_entropy_and_threshold_comes_from_a_shadow(session):
    attack = session.registry.attack("loss")
    ctx, is_member = make_context(attack, session=session)
    scores = attack.score(ctx)
    probs = ctx.target.predict_scores(ctx.candidates.x)
    np.testing.assert_allclose(scores, -cross_entropy(probs, ctx.candidates.y))
    assert ctx.budget.used["shadow_models"] == 1
    sh = ctx.shadows(1)
    cal = -cross_entropy(sh[0].predict_scores(sh.pool.x), sh.pool.y)
    assert ctx.threshold == youden_threshold(cal, sh.inclusion[0])
    assert auc(scores, is_member) > 0.55  # the overfit target leaks
