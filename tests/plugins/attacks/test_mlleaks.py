import numpy as np
import pytest

from bench.metrics import auc
from bench.testing import make_context, make_session
from plugins.attacks.mlleaks import top3, transfer_dataset


@pytest.fixture(scope="module")
def session():
    return make_session()


def test_top3_is_sorted_top_three_posteriors():
    p = np.array([[0.1, 0.6, 0.05, 0.25], [0.4, 0.3, 0.2, 0.1]])
    assert np.allclose(top3(p), [[0.6, 0.25, 0.1], [0.4, 0.3, 0.2]])
    assert top3(np.array([[0.7, 0.3]])).shape == (1, 3)


@pytest.mark.slow
def test_adv1_uses_exactly_one_shadow(session):
    ctx, is_member = make_context("mlleaks-adv1", track="synthetic-blobs", session=session)
    scores = session.registry.attack("mlleaks-adv1").score(ctx)
    assert ctx.budget.used["shadow_models"] == 1
    assert ctx.threshold == 0.0 and auc(scores, is_member) > 0.55


@pytest.mark.slow
def test_adv2_trains_its_shadow_on_another_dataset(session):
    ctx, is_member = make_context("mlleaks-adv2", track="synthetic-blobs", session=session)
    attack = session.registry.attack("mlleaks-adv2", shadow_epochs=20)
    scores = attack.score(ctx)
    assert ctx.budget.used["shadow_models"] == 0  # no same-distribution shadow from the harness
    assert attack.transfer_source == "digits"
    assert np.isfinite(scores).all() and auc(scores, is_member) > 0.5
    # For the digits track itself the transfer data is another dataset, never digits.
    assert transfer_dataset("digits", 100, np.random.default_rng(0))[2] != "digits"


def test_adv3_needs_no_shadow_and_thresholds_top1(session):
    ctx, is_member = make_context("mlleaks-adv3", track="synthetic-blobs", session=session)
    scores = session.registry.attack("mlleaks-adv3").score(ctx)
    assert ctx.budget.used["shadow_models"] == 0
    top1 = np.asarray(ctx.target._predictor.predict_scores(ctx.candidates.x), dtype=np.float64).max(axis=1)
    assert np.allclose(scores, np.log(top1) - np.log1p(-top1), rtol=1e-5, atol=1e-6)  # top-1 on its log-odds scale
    assert np.array_equal(np.argsort(scores, kind="stable"), np.argsort(top1, kind="stable")) or (np.diff(np.sort(top1)) == 0).any()
    assert auc(scores, is_member) > 0.55
