"""A memoizing serving defense (``Defense.memoizes_answers``) is asked the common queries once, by the harness."""

import numpy as np
import pytest

from bench import Attack, Predictor, ThreatModel
from bench._answers import common_queries
from bench._pool_cell import pool_context
from bench._plan import Cell
from bench.signals import augment, query_augmentations
from bench.testing import make_session, registry_with

from .test_pool_cell import Confidence, PoolBlobs


class Asked:
    """What a remembering defense's served predictor was asked (its per-model ``prepared`` state)."""

    def __init__(self):
        self.queries: list[np.ndarray] = []


class AskedPredictor(Predictor):
    def __init__(self, inner, asked):
        self.inner, self.asked = inner, asked

    def predict_labels(self, x):
        return self.inner.predict_labels(x)

    def predict_scores(self, x):
        self.asked.queries.append(np.array(x, copy=True))
        return self.inner.predict_scores(x)


def _remembering(memoizes: bool):
    from bench import Defense

    class Remembering(Defense):
        name = "remembering" if memoizes else "forgetting"
        prepares = True
        memoizes_answers = memoizes

        def prepare(self, predictor, members, reference, seed):
            return Asked()

        def serve(self, predictor, prepared=None):
            return AskedPredictor(predictor, prepared)

    return Remembering


def test_a_memoizing_defense_is_asked_the_common_queries_once_per_model_by_the_harness():
    reg = registry_with(_remembering(True), _remembering(False), PoolBlobs, Confidence)
    with make_session(registry=reg) as s:
        cell = Cell("pool-blobs", "remembering", "conf-pool", 0, "smoke")
        models = s.pool_models(cell, s.defense(cell))
        track, data, _ = s.track("pool-blobs")
        design = s.pool_design(cell)
        forgetting = Cell("pool-blobs", "forgetting", "conf-pool", 0, "smoke")
        quiet = s.pool_models(forgetting, s.defense(forgetting))
    # the queries LiRA and RMIA make by default (bench.signals): the pool, plain and its second view
    second = query_augmentations(2, track.augmentations)[1]
    pool = track.candidates(data, design.pool).x
    expected = [pool, augment(pool, second)]
    assert [q.tobytes() for q in common_queries(track, data, design)] == [q.tobytes() for q in expected]
    assert len({m.prepared for m in models}) == len(models) == design.n_models
    for m in models:  # each model, through its own served predictor, once
        assert [q.tobytes() for q in m.prepared.queries] == [q.tobytes() for q in expected]
    assert all(m.prepared.queries == [] for m in quiet)  # a defense that keeps no answers is not asked anything


@pytest.mark.slow
def test_nothing_a_run_asks_enters_the_serving_state_later_runs_receive():
    """A target's scenario sets are its members' neighbours: had the harness kept what it was asked during a run, a
    later run's worker would receive, with the model's ``prepared``, answers keyed by this target's members."""
    reg = registry_with(_remembering(True), PoolBlobs, Confidence)
    with make_session(registry=reg, scenarios=True) as s:
        cell = Cell("pool-blobs", "remembering", "conf-pool", 0, "smoke")
        models = s.pool_models(cell, s.defense(cell))
        common = [[q.tobytes() for q in m.prepared.queries] for m in models]
        record, _ = s.run_cell(cell)  # the attack queries each target (pool, then pool + scenario sets)
        assert record.status == "ok", record.error
        assert record.scenarios["status"] == "ok" and sum(record.scenarios["sets"].values()) > 0
        assert [[q.tobytes() for q in m.prepared.queries] for m in models] == common  # only the common queries
        ctx, _, _ = pool_context(s, cell, s.registry.attack("conf-pool"), s.defense(cell), 0)
        shadows = ctx.shadows(2, online=True)
        assert all(sh.prepared is not m.prepared for sh in shadows for m in models)  # shadows are served from copies


class Logged:
    """A recording defense's per-model state; every copy (``bench._models.private``, a shadow's) logs to one list."""

    log: list[bytes] = []


class LoggingPredictor(Predictor):
    def __init__(self, inner):
        self.inner = inner

    def predict_labels(self, x):
        return self.inner.predict_labels(x)

    def predict_scores(self, x):
        rows = np.ascontiguousarray(np.asarray(x).reshape(len(x), -1))  # as MemGuard keys its answers
        Logged.log.extend(r.tobytes() for r in rows)
        return self.inner.predict_scores(x)


@pytest.mark.slow
@pytest.mark.parametrize("attack", ["lira", "rmia"])
def test_lira_and_rmia_with_default_params_ask_their_served_models_only_the_common_queries(attack):
    """On digits, everything LiRA and RMIA (default parameters) ask the target and their shadows about the pool, byte for
    byte, is among the queries the harness asked each model beforehand: a memoizing defense's answers serve all of it.
    RMIA (v5) also asks its z, population points, which are answered on demand."""
    from bench import Defense
    from bench._pool_cell import pool_context
    from bench._proxy import decode, encode

    class Recording(Defense):
        name = "recording"
        prepares = memoizes_answers = True

        def prepare(self, predictor, members, reference, seed):
            return Logged()

        def serve(self, predictor, prepared=None):
            return LoggingPredictor(predictor)

    Logged.log.clear()
    with make_session(registry=registry_with(Recording)) as s:
        cell = Cell("digits", "recording", attack, 0, "smoke")
        defense = s.defense(cell)
        s.pool_models(cell, defense)
        common = set(Logged.log)
        Logged.log.clear()
        ctx, ledger, _ = pool_context(s, cell, s.registry.attack(attack), defense, 0)
        wire = decode(encode({"c": ctx.candidates}))["c"]  # a worker's candidates: the same bytes
        assert wire.x.dtype == ctx.candidates.x.dtype and np.array_equal(wire.x, ctx.candidates.x)
        status, error, _ = s._score(s.registry.attack(attack), ctx, ledger, 1e9, cell=cell, defense=defense)
    assert status == "ok", error
    asked = set(Logged.log)
    assert len(common) == 2 * len(ctx.candidates) and len(asked) >= len(ctx.candidates)
    extra = asked - common
    if attack == "lira":
        assert not extra, f"{len(extra)} of {len(asked)} queries were not answered beforehand"
    else:  # rmia v5's z: population points no reference trained on (never candidates), answered on demand
        from plugins.attacks.rmia import RMIA

        assert 0 < len(extra) <= RMIA.params["n_population"] * RMIA.params["n_queries"]

class Unanswered(Attack):
    """Counts, per server of its run (target, then shadows), the candidates that server's serving state was not asked."""

    name = "unanswered"
    threat_model = ThreatModel.SCORES
    seen: list[list[int]] = []

    def score(self, ctx):
        states = [ctx.target._prepared] + [sh.prepared for sh in ctx.shadows(ctx.budget.max_shadows, online=True).models]
        asked = [{np.asarray(r).tobytes() for q in st.queries for r in q} for st in states]
        Unanswered.seen.append([sum(np.asarray(x).tobytes() not in a for x in ctx.candidates.x) for a in asked])
        return ctx.rng.random(len(ctx.candidates))


def test_every_candidate_of_a_scenario_run_is_answered_like_the_pool():
    """The second run against a target mixes its scenario points into the pool. Had only the pool been answered, the
    answers shipped with the shadows (or the target's time to answer) would tell the scenario points from the pool,
    and an attack could score them lowest: fpr_<set> = 0 (review adv-answers)."""
    reg = registry_with(_remembering(True), PoolBlobs, Unanswered, Confidence)
    Unanswered.seen = []
    with make_session(registry=reg, scenarios=True) as s:
        cell = Cell("pool-blobs", "remembering", "unanswered", 0, "smoke")
        models = s.pool_models(cell, s.defense(cell))
        common = [len(m.prepared.queries) for m in models]
        record, _ = s.run_cell(cell)
        assert [len(m.prepared.queries) for m in models] == common  # the group's state is left as it was
        cached = {k: [len(m.prepared.queries) for m in v] for k, v in s._answered.items()}
        again, _ = s.run_cell(Cell("pool-blobs", "remembering", "conf-pool", 0, "smoke"))  # same group, another attack
        assert again.status == "ok" and again.scenarios["status"] == "ok"
        # the scenario points were answered once per (group, target), not once per cell
        assert {k: [len(m.prepared.queries) for m in v] for k, v in s._answered.items()} == cached
        assert len(cached) == len(record.per_target) and all(n == c + 2 for k in cached for n, c in zip(cached[k], common))
    assert record.status == "ok", record.error
    assert record.scenarios["status"] == "ok" and sum(record.scenarios["sets"].values()) > 0
    scenario_runs = len(Unanswered.seen) - len(record.per_target)
    assert scenario_runs >= 1, Unanswered.seen
    assert all(n == 0 for run in Unanswered.seen for n in run), Unanswered.seen
