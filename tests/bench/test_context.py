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


# -- side-channel threat models: timing and embeddings ----------------------------------------------


class _Service:
    """A predictor that records what reaches it."""

    QUERIES = {"predict_labels": ThreatModel.LABEL, "predict_scores": ThreatModel.SCORES, "embed": ThreatModel.EMBEDDINGS}
    TIMED = "predict_labels"

    def __init__(self):
        self.calls = []

    def predict_labels(self, x):
        self.calls.append(len(x))
        return np.zeros(len(x), dtype=int)

    def predict_scores(self, x):
        return np.ones((len(x), 2)) / 2

    def embed(self, x):
        return np.ones((len(x), 4))


def _oracle(threat_model, max_queries_per_candidate=8):
    from bench import Budget
    from bench._context import BudgetLedger, TargetOracle

    ledger = BudgetLedger(Budget("t", max_shadows=0, queries_per_candidate=max_queries_per_candidate, device_seconds=60), n_candidates=10)
    service = _Service()
    return TargetOracle(service, object(), threat_model, ledger), ledger, service


def test_side_channels_stand_beside_the_chain():
    T = ThreatModel
    assert T.SCORES.allows(T.LABEL) and not T.LABEL.allows(T.SCORES) and T.WHITEBOX.allows(T.TIMING) and T.WHITEBOX.allows(T.EMBEDDINGS)
    for side in (T.TIMING, T.EMBEDDINGS):
        assert side.allows(side)
        assert not any(side.allows(other) for other in T if other is not side)
        assert not any(chain.allows(side) for chain in (T.LABEL, T.SCORES))
        assert side < T.LABEL  # a plain >= never grants a side channel a chain query
    assert ThreatModel.parse("timing") is T.TIMING and ThreatModel.parse("embeddings") is T.EMBEDDINGS


def test_timing_oracle_returns_only_times_and_charges_each_query():
    oracle, ledger, service = _oracle(ThreatModel.TIMING)
    t = oracle.timings(np.zeros((6, 3)))
    assert t.shape == (6,) and t.dtype == float and (t >= 0).all()
    assert service.calls == [1] * 6  # each example served alone
    assert ledger.queries == 6
    for forbidden in ("predict_labels", "predict_scores", "embed", "module"):
        with pytest.raises(ThreatModelViolation):
            getattr(oracle, forbidden)
    with pytest.raises(BudgetExceeded):
        oracle.timings(np.zeros((80, 3)))  # 6 + 80 > 8 per candidate x 10


def test_embeddings_oracle_answers_embeddings_only():
    oracle, ledger, _ = _oracle(ThreatModel.EMBEDDINGS)
    assert oracle.embed(np.zeros((3, 2))).shape == (3, 4) and ledger.queries == 3
    for forbidden in ("predict_labels", "predict_scores", "module"):
        with pytest.raises(ThreatModelViolation):
            getattr(oracle, forbidden)
    with pytest.raises(ThreatModelViolation):
        oracle.timings(np.zeros((1, 2)))
    label, _, _ = _oracle(ThreatModel.LABEL)
    with pytest.raises(ThreatModelViolation):
        label.embed(np.zeros((1, 2)))
