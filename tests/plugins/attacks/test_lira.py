import numpy as np
import pytest
from scipy.stats import norm

from bench.metrics import auc
from bench.signals import augment, logit_scale, query_augmentations
from bench.testing import make_context, make_session
from plugins.attacks.lira import gaussian_fit, lira_offline, lira_online


@pytest.mark.slow
def test_online_lira_scores_the_likelihood_ratio_of_in_and_out_gaussians(session):
    attack = session.registry.attack("lira", fixed_variance=True, n_queries=1)
    ctx, is_member = make_context(attack, session=session)
    scores = attack.score(ctx)
    sh = ctx.shadows(4, online=True)
    c = ctx.candidates
    obs = np.stack([logit_scale(s.predict_scores(c.x), c.y) for s in sh])
    inc = sh.candidate_inclusion
    target = logit_scale(ctx.target.predict_scores(c.x), c.y)
    j = 7
    mu_in, mu_out = obs[inc[:, j], j].mean(), obs[~inc[:, j], j].mean()
    assert np.sign(scores[j]) == np.sign(abs(target[j] - mu_out) - abs(target[j] - mu_in)) or abs(scores[j]) < 1e-6
    assert ctx.threshold == 0.0
    assert auc(scores, is_member) > 0.55


def test_offline_lira_is_one_sided_in_the_target_confidence():
    obs = np.random.default_rng(0).normal(size=(8, 5, 1))
    lo, hi = lira_offline(np.full((5, 1), -1.0), obs, fixed_variance=False), lira_offline(np.full((5, 1), 3.0), obs, fixed_variance=False)
    assert (hi > lo).all()  # higher confidence than the OUT models → more likely a member


def test_fixed_variance_is_the_global_std_of_each_side():
    rng = np.random.default_rng(1)
    obs = rng.normal(size=(6, 4, 1)) * np.array([1.0, 2.0, 3.0, 4.0])[None, :, None]
    mask = np.ones_like(obs, dtype=bool)
    _, per_example = gaussian_fit(obs, mask, fixed_variance=False)
    _, fixed = gaussian_fit(obs, mask, fixed_variance=True)
    assert per_example[3, 0] > 2 * per_example[0, 0]
    assert np.allclose(fixed, obs.std())  # one σ for the whole side, never a hard-coded constant


def test_a_side_without_models_falls_back_to_that_sides_mean_per_query():
    # Two models, two queries; candidate 1 is IN for no model.
    obs = np.array([[[1.0, 10.0], [5.0, 50.0]], [[3.0, 30.0], [7.0, 70.0]]])
    inc = np.array([[True, False], [True, False]])[:, :, None]
    mean, std = gaussian_fit(obs, inc, fixed_variance=False)
    assert mean[0].tolist() == [2.0, 20.0]
    assert mean[1].tolist() == [2.0, 20.0]  # the IN side's mean per query, not a sum over queries
    assert np.isfinite(std).all() and (std > 0).all()


def test_query_augmentations_follow_the_track():
    assert query_augmentations(2, ("mirror", "shift")) == ["id", "mirror"]
    assert query_augmentations(2, ("shift",)) == ["id", "shift:1,0"]
    with pytest.raises(ValueError, match="allows only 1"):
        query_augmentations(2, ())
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    assert augment(x, "shift:1,0")[0, 0].tolist() == [[0, 0, 1], [0, 3, 4], [0, 6, 7]]
    assert augment(x, "mirror")[0, 0, 0].tolist() == [2, 1, 0]


@pytest.mark.slow
def test_online_lira_exports_memorization_scores():
    session = make_session()
    # The cpu tier's device-second budget leaves room for a loaded test machine.
    ctx, is_member = make_context("lira", track="synthetic-blobs", session=session, budget="cpu", n_shadows=4)
    scores = session.registry.attack("lira", n_shadows=4).score(ctx)
    mem, gap = ctx.exports["memorization"], ctx.exports["lira_gap"]
    assert mem.shape == gap.shape == (len(ctx.candidates),)
    ok = np.isfinite(mem)
    assert ok.mean() > 0.5 and np.all((mem[ok] >= -1) & (mem[ok] <= 1))
    # Training on an example raises its confidence and correctness: the IN/OUT gaps are positive on average.
    assert np.nanmean(gap) > 0 and np.nanmean(mem) > 0
    assert auc(scores, is_member) > 0.55


@pytest.mark.slow
def test_offline_lira_exports_nothing():
    session = make_session()
    ctx, _ = make_context("lira-offline", track="synthetic-blobs", session=session, n_shadows=2)
    session.registry.attack("lira-offline", n_shadows=2).score(ctx)
    assert "memorization" not in ctx.exports


def test_online_fixed_variance_uses_one_sigma_so_saturated_outputs_cannot_turn_the_ratio_around():
    """Served outputs that saturate (top-k, rounding) put φ at ±103.6 for some IN observations: σ_in grows far beyond
    σ_out. With separate global σ (version 3) the quadratic term then called a target φ far *below* OUT a member;
    with one σ the online score is linear in φ with the sign of μ_in − μ_out, as the likelihood ratio should be."""
    rng = np.random.default_rng(0)
    n, m = 40, 16
    keep = np.zeros((m, n), dtype=bool)
    keep[: m // 2] = True
    obs = rng.normal(0.0, 1.0, size=(m, n, 1)) + np.where(keep, 2.0, 0.0)[:, :, None]  # IN sits 2 above OUT
    obs[0, :10, 0] = logit_scale(np.array([[1.0, 0.0]] * 10), np.zeros(10, dtype=int))  # saturated IN answers
    assert obs[0, 0, 0] == pytest.approx(103.6, abs=0.1)
    below_out = np.full((n, 1), -6.0)  # far below every OUT observation
    at_in = np.full((n, 1), 2.0)
    low, high = lira_online(below_out, obs, keep, fixed_variance=True), lira_online(at_in, obs, keep, fixed_variance=True)
    assert (low < 0).all() and (high > low).all()
    step = lira_online(at_in + 1.0, obs, keep, fixed_variance=True) - high  # linear: same step for every φ shift
    assert np.allclose(step, lira_online(below_out + 1.0, obs, keep, fixed_variance=True) - low)
