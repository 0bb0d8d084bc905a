import gc

import numpy as np
import pytest

from bench import Attack, Split, ThreatModel, ThreatModelViolation
from bench._api import BudgetExceeded
from bench.testing import make_context, make_session, registry_with, run_cell


class PeekScores(Attack):
    name = "peek-scores"
    threat_model = ThreatModel.LABEL

    def score(self, ctx):
        return ctx.target.predict_scores(ctx.candidates.x)[:, 0]


class Greedy(Attack):
    name = "greedy"
    threat_model = ThreatModel.SCORES
    params = {"rounds": 100}

    def score(self, ctx):
        for _ in range(self.params["rounds"]):
            ctx.target.predict_scores(ctx.candidates.x)
        return np.zeros(len(ctx.candidates))


class ShadowHog(Attack):
    name = "shadow-hog"
    threat_model = ThreatModel.SCORES

    def score(self, ctx):
        ctx.shadows(ctx.budget.max_shadows + 1)
        return np.zeros(len(ctx.candidates))


@pytest.fixture(scope="module")
def reg():
    return registry_with(PeekScores, Greedy, ShadowHog)


def test_label_attack_cannot_read_scores(reg, session_cache):
    ctx, _ = make_context(PeekScores(), session=make_session(registry=reg, cache_dir=session_cache))
    labels = ctx.target.predict_labels(ctx.candidates.x)
    assert labels.shape == (len(ctx.candidates),)
    with pytest.raises(ThreatModelViolation, match=r"'label' but called target.predict_scores\(\), which needs 'scores'"):
        ctx.target.predict_scores(ctx.candidates.x)
    with pytest.raises(ThreatModelViolation, match="target.module"):
        ctx.target.module


def test_threat_model_violation_is_recorded_as_failed(reg, session_cache):
    rec = run_cell("peek-scores", session=make_session(registry=reg, cache_dir=session_cache))
    assert rec["status"] == "failed"
    assert "threat-model violation" in rec["error"] and "predict_scores" in rec["error"]


def test_queries_are_counted_and_capped(reg, session_cache):
    s = make_session(registry=reg, cache_dir=session_cache)
    ctx, _ = make_context("loss", session=s)
    n = len(ctx.candidates)
    ctx.target.predict_scores(ctx.candidates.x)
    ctx.target.predict_labels(ctx.candidates.x[:10])
    assert ctx.budget.used["queries"] == n + 10
    rec = run_cell("greedy", session=s)
    assert rec["status"] == "over_budget"
    assert "over the 'smoke' budget" in rec["error"] and "queries" not in rec["metrics"]
    assert rec["budget"]["used"]["queries"] <= rec["budget"]["limits"]["queries_per_candidate"] * n


def test_too_many_shadows_is_over_budget(reg, session_cache):
    rec = run_cell("shadow-hog", session=make_session(registry=reg, cache_dir=session_cache))
    assert rec["status"] == "over_budget"
    assert "shadow models" in rec["error"]


@pytest.mark.slow
def test_nothing_reachable_from_ctx_carries_membership(session):
    ctx, is_member = make_context("lira", session=session)
    ctx.shadows(2, online=True)  # exercise the shadow machinery too
    _, _, split = session.track("synthetic-blobs")
    members = np.sort(split.members)
    seen, stack, found = set(), [ctx], []
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, (type, type(gc))):
            continue
        seen.add(id(obj))
        if isinstance(obj, Split):
            found.append("Split")
        if isinstance(obj, np.ndarray):
            if obj.dtype == bool and obj.shape == is_member.shape and np.array_equal(obj, is_member):
                found.append("membership mask")
            if obj.ndim == 1 and obj.shape == members.shape and np.issubdtype(obj.dtype, np.integer) and np.array_equal(np.sort(obj), members):
                found.append("member indices")
            continue
        stack.extend(gc.get_referents(obj))
    assert len(seen) > 100  # the walk really went through the graph
    assert found == []


@pytest.mark.slow
def test_online_shadows_are_balanced_and_train_on_candidates(session):
    ctx, _ = make_context("lira", session=session)
    sh = ctx.shadows(ctx.budget.max_shadows, online=True)  # balance holds for the full set; smaller sets are its prefixes
    n_c = len(ctx.candidates)
    assert sh.inclusion.shape == (4, n_c + len(ctx.population))
    assert sh.candidate_inclusion.shape == (4, n_c)
    counts = sh.inclusion.sum(axis=0)
    assert counts.min() == counts.max()  # every pool point IN for the same number of models
    np.testing.assert_array_equal(sh.pool.x[:n_c], ctx.candidates.x)
    np.testing.assert_array_equal(ctx.shadows(2, online=True).inclusion, sh.inclusion[:2])
    ctx, _ = make_context("lira", session=session)
    off = ctx.shadows(2)
    assert off.inclusion.shape == (2, len(ctx.population)) and off.n_candidates == 0
    with pytest.raises(ValueError, match="offline shadows never train on candidates"):
        off.candidate_inclusion


@pytest.mark.slow
def test_cached_shadows_are_charged_at_recorded_cost(session):
    ctx1, _ = make_context("lira", session=session, seed=3)
    sh = ctx1.shadows(2)
    recorded = sum(m.train_seconds for m in sh)
    ctx2, _ = make_context("lira", session=session, seed=3)
    sh2 = ctx2.shadows(2)
    assert all(m.cached for m in sh2)
    assert ctx2.budget.used["shadow_models"] == 2
    assert ctx2.budget.used["device_seconds"] >= recorded * 0.99
