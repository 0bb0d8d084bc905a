import numpy as np
import pytest

from bench.metrics import auc
from bench.signals import true_class_prob
from bench.testing import make_context, make_session


@pytest.fixture(scope="module")
def session():
    return make_session()


def test_score_is_true_class_probability_minus_class_threshold(session):
    ctx, is_member = make_context("confidence", track="synthetic-blobs", session=session)
    scores = session.registry.attack("confidence").score(ctx)
    c = ctx.candidates
    # The oracle was queried once per candidate: calibration used the shadow, not the target.
    assert ctx.budget.used["queries"] == len(c)
    assert ctx.budget.used["shadow_models"] == 1
    assert ctx.threshold == 0.0
    p_y = true_class_prob(ctx.target._predictor.predict_scores(c.x), c.y)
    tau = p_y - scores
    # One threshold per class (Song & Mittal), the same for every candidate of that class.
    for k in np.unique(c.y):
        assert np.allclose(tau[c.y == k], tau[c.y == k][0])
    assert len(np.unique(np.round(tau, 12))) > 1
    assert auc(scores, is_member) > 0.55


def test_global_threshold_variant_returns_raw_confidence(session):
    ctx, _ = make_context("confidence", track="synthetic-blobs", session=session, per_class=False)
    scores = session.registry.attack("confidence", per_class=False).score(ctx)
    c = ctx.candidates
    assert np.allclose(scores, true_class_prob(ctx.target._predictor.predict_scores(c.x), c.y))
    assert 0.0 < ctx.threshold < 1.0
