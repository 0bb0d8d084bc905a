import types

import numpy as np
import pytest

from bench.metrics import auc
from bench.signals import logit_scale
from bench.testing import make_context, make_session


@pytest.fixture(scope="module")
def session():
    return make_session()


@pytest.mark.slow
def test_score_is_the_true_class_log_odds_minus_class_threshold(session):
    ctx, is_member = make_context("confidence", track="synthetic-blobs", session=session)
    scores = session.registry.attack("confidence").score(ctx)
    c = ctx.candidates
    # The oracle was queried once per candidate: calibration used the shadow, not the target.
    assert ctx.budget.used["queries"] == len(c)
    assert ctx.budget.used["shadow_models"] == 1
    assert ctx.threshold == 0.0
    p_y = logit_scale(ctx.target._predictor.predict_scores(c.x), c.y)  # p_y on its log-odds scale
    tau = p_y - scores
    # One threshold per class (Song & Mittal), the same for every candidate of that class.
    for k in np.unique(c.y):
        assert np.allclose(tau[c.y == k], tau[c.y == k][0])
    assert len(np.unique(np.round(tau, 12))) > 1
    assert auc(scores, is_member) > 0.55


@pytest.mark.slow
def test_global_threshold_variant_returns_raw_confidence(session):
    ctx, _ = make_context("confidence", track="synthetic-blobs", session=session, per_class=False)
    scores = session.registry.attack("confidence", per_class=False).score(ctx)
    c = ctx.candidates
    assert np.allclose(scores, logit_scale(ctx.target._predictor.predict_scores(c.x), c.y))
    assert np.isfinite(ctx.threshold)


class _Probs:
    """A classifier whose probabilities are fixed per example (``x`` holds the example indices)."""

    def __init__(self, probs):
        self.probs = np.asarray(probs, dtype=float)

    def predict_scores(self, x):
        return self.probs[np.asarray(x).ravel()]


def test_class_thresholds_come_from_the_shadow_and_the_score_is_relative_to_them(fake_context, fake_shadows):
    from bench import Candidates
    from plugins.attacks.confidence import ConfidenceAttack

    # Shadow pool: class 0 members are confident (0.9) and non-members not (0.6); class 1 likewise at 0.8 / 0.4.
    p_true = np.array([0.9] * 4 + [0.6] * 4 + [0.8] * 4 + [0.4] * 4)
    y = np.array([0] * 8 + [1] * 8)
    probs = np.stack([np.where(y == 0, p_true, 1 - p_true), np.where(y == 1, p_true, 1 - p_true)], axis=1)
    inclusion = [np.array(([True] * 4 + [False] * 4) * 2)]
    pool = Candidates(x=np.arange(16), y=y)
    target = _Probs([[0.7, 0.3], [0.3, 0.7]])
    ctx = fake_context(Candidates(x=np.array([0, 1]), y=np.array([0, 1])), target, fake_shadows([_Probs(probs)], pool, inclusion),
                       track=types.SimpleNamespace(num_classes=2))
    scores = ConfidenceAttack().score(ctx)
    assert ctx.threshold == 0.0  # the class-dependent rule, folded into the score
    odds = lambda p: np.log(p) - np.log(1 - p)  # noqa: E731  (the signal: p_y on its log-odds scale)
    assert scores[0] == pytest.approx(odds(0.7) - odds(0.9)) and scores[1] == pytest.approx(odds(0.7) - odds(0.8))  # τ_y: the lowest member confidence of class y
    ctx = fake_context(Candidates(x=np.array([0, 1]), y=np.array([0, 1])), target, fake_shadows([_Probs(probs)], pool, inclusion))
    raw = ConfidenceAttack(per_class=False).score(ctx)
    np.testing.assert_allclose(raw, [odds(0.7), odds(0.7)])
    assert odds(0.6) < ctx.threshold <= odds(0.8)  # one global threshold between the pooled IN and OUT confidences


def test_confident_outputs_keep_their_order_where_p_y_rounds_to_one():
    """p_y is 1.0 exactly for margins past about 17 in float32: version 1's signal tied them all at the member end,
    where the harness's thresholds cannot split a tie. The log-odds keep the order the other classes give."""
    from plugins.attacks.confidence import ConfidenceAttack

    rest = np.array([1e-9, 1e-15, 1e-25, 1e-35], dtype=np.float32)
    probs = np.stack([np.ones(4, dtype=np.float32), rest], axis=1)
    assert (probs[:, 0] == 1.0).all()
    signal = ConfidenceAttack.signal(probs, np.zeros(4, dtype=int))
    assert np.all(np.diff(signal) > 10)  # more confident, higher, each apart
