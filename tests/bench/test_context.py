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


class Vandal(Attack):
    """White-box: zeroes every weight of the module it is given, then checks the target now answers from it."""

    name = "vandal"
    threat_model = ThreatModel.WHITEBOX

    def score(self, ctx):
        for p in ctx.target.module.parameters():
            p.data.zero_()
        scores = ctx.target.predict_scores(ctx.candidates.x)
        assert np.allclose(scores, scores[0]), "the oracle should serve the module the attack holds"
        return ctx.rng.random(len(ctx.candidates))


class ShadowHog(Attack):
    name = "shadow-hog"
    threat_model = ThreatModel.SCORES

    def score(self, ctx):
        ctx.shadows(ctx.budget.max_shadows + 1)
        return np.zeros(len(ctx.candidates))


@pytest.fixture(scope="module")
def reg():
    return registry_with(PeekScores, Greedy, ShadowHog, Vandal)


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
def test_a_whitebox_attack_gets_a_copy_of_the_target(reg, tmp_path):
    s = make_session(registry=reg, cache_dir=tmp_path)
    before = run_cell("loss", session=s)
    vandal = run_cell("vandal", session=s)
    after = run_cell("loss", session=s)
    assert vandal["status"] == "ok", vandal["error"]
    assert before["status"] == after["status"] == "ok"
    assert after["metrics"] == before["metrics"] and after["utility"] == before["utility"]
    assert before["metrics"]["auc"] > 0.5  # the untouched target still leaks: the numbers are a real target's
