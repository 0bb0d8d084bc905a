import json
import time

import numpy as np
import pytest

from bench import Attack, Budget, ThreatModel
from bench._records import read_records
from bench._runner import Plan, run_plan
from bench.testing import make_session, registry_with, run_cell
from plugins.tracks.synthetic import SyntheticBlobs


class Crash(Attack):
    name = "crash"

    def score(self, ctx):
        raise RuntimeError("the attack fell over")


class NaNs(Attack):
    name = "nans"

    def score(self, ctx):
        s = np.zeros(len(ctx.candidates))
        s[3] = np.nan
        return s


class WrongShape(Attack):
    name = "wrong-shape"

    def score(self, ctx):
        return np.zeros((len(ctx.candidates), 2))


class Hang(Attack):
    name = "hang"

    def score(self, ctx):
        time.sleep(3600)


class Confidence(Attack):
    name = "conf"

    def score(self, ctx):
        p = ctx.target.predict_scores(ctx.candidates.x)
        return p[np.arange(len(p)), ctx.candidates.y]


class TinyBudgetBlobs(SyntheticBlobs):
    name = "tiny-budget-blobs"
    budgets = {"smoke": Budget("smoke", max_shadows=1, queries_per_candidate=4, device_seconds=0.5)}


@pytest.fixture(scope="module")
def reg():
    return registry_with(Crash, NaNs, WrongShape, Hang, Confidence, TinyBudgetBlobs)


@pytest.fixture
def sess(reg, session_cache):
    return make_session(registry=reg, cache_dir=session_cache, timeout_grace=0.5)


@pytest.mark.parametrize(
    "attack, message",
    [
        ("crash", "attack 'crash' raised RuntimeError: the attack fell over"),
        ("nans", "attack 'nans' returned 1 non-finite scores (NaN/inf) of 400, e.g. at candidate 3"),
        ("wrong-shape", "attack 'wrong-shape' returned scores of shape (400, 2), expected (400,)"),
    ],
)
def test_bad_attacks_are_recorded_failed_with_a_clear_message(sess, attack, message):
    rec = run_cell(attack, session=sess)
    assert rec["status"] == "failed"
    assert message in rec["error"]
    assert rec["metrics"] == {}


@pytest.mark.slow
def test_hanging_attack_times_out(sess):
    t0 = time.perf_counter()
    rec = run_cell("hang", track="tiny-budget-blobs", session=sess)
    assert rec["status"] == "timeout"
    assert "did not return within" in rec["error"]
    assert time.perf_counter() - t0 < 120  # abandoned at the budget plus grace, not left to hang (margin for a loaded machine)


def test_record_has_the_contract_schema(sess):
    rec = run_cell("conf", session=sess)
    assert rec["status"] == "ok", rec["error"]
    assert set(rec) >= {"schema_version", "run_id", "track", "attack", "defense", "seed", "budget", "status", "error",
                        "metrics", "utility", "provenance", "created_at"}
    assert set(rec["track"]) >= {"name", "version", "split_sha256"}
    assert set(rec["attack"]) >= {"name", "params", "plugin", "version"} and rec["attack"]["plugin"] == "throwaway"
    assert set(rec["budget"]) == {"tier", "limits", "used"} and rec["budget"]["used"]["queries"] == 400
    assert set(rec["provenance"]) == {"privbench_version", "git_commit", "python", "torch", "device", "libraries", "plugins"}
    assert rec["provenance"]["plugins"]["attack"]["version"] == rec["attack"]["version"] and rec["provenance"]["libraries"]["numpy"]
    assert set(rec["utility"]) == {"train_accuracy", "test_accuracy"}
    assert rec["utility"]["train_accuracy"] > rec["utility"]["test_accuracy"]  # the target overfits
    m = rec["metrics"]
    for k in ("auc", "tpr@0.1%fpr", "tpr@1%fpr", "advantage"):
        assert isinstance(m[k], float)
    assert len(m["auc_ci"]) == 2 and m["auc_ci"][0] <= m["auc"] <= m["auc_ci"][1]
    assert m["balanced_accuracy"] is None  # no threshold reported by this attack
    json.dumps(rec.to_dict(), allow_nan=False)  # a bench.Record: its JSON form


def _plan(tmp_path, attacks, **kw):
    return Plan(tracks=["synthetic-blobs"], attacks=attacks, defenses=["none"], seeds=[0, 1], budget="smoke",
                out_dir=str(tmp_path / "out"), device="cpu", progress=False, **kw)


def test_grid_goes_on_after_failures_and_saves_scores(sess, tmp_path):
    plan = _plan(tmp_path, ["crash", "conf"])
    records = run_plan(plan, session=sess)
    assert sorted((r["attack"]["name"], r["seed"], r["status"]) for r in records) == [
        ("conf", 0, "ok"), ("conf", 1, "ok"), ("crash", 0, "failed"), ("crash", 1, "failed")]
    ok = [r for r in records if r["status"] == "ok"]
    for r in ok:
        z = np.load(tmp_path / "out" / r["scores_file"])
        assert z["scores"].shape == (400,) and z["is_member"].sum() == 200


def test_rerun_resumes_without_recomputing(sess, tmp_path):
    plan = _plan(tmp_path, ["conf", "loss"])
    first = run_plan(plan, session=sess)
    ran = []
    second = run_plan(plan, session=sess, on_record=ran.append)
    assert ran == []
    assert {r["run_id"]: r["metrics"] for r in first} == {r["run_id"]: r["metrics"] for r in second}


def test_interrupted_run_resumes_and_loses_nothing(sess, tmp_path):
    plan = _plan(tmp_path, ["conf", "loss"])
    run_plan(Plan(**{**plan.as_dict(), "attacks": ["conf"]}), session=sess)  # the run got this far...
    results = tmp_path / "out" / "results.jsonl"
    kept = read_records(results)
    with open(results, "a") as f:
        f.write('{"run_id": "torn')  # ...and died mid-write
    ran = []
    with pytest.warns(RuntimeWarning, match="unreadable result line"):
        records = run_plan(plan, session=sess, on_record=ran.append)
    assert sorted(r["attack"]["name"] for r in ran) == ["loss", "loss"]
    assert len(records) == 4
    by_id = {r["run_id"]: r for r in read_records(results)}
    for r in kept:
        assert by_id[r["run_id"]] == r


def test_a_changed_plugin_is_re_run_not_resumed(sess, tmp_path, monkeypatch):
    plan = _plan(tmp_path, ["conf"])
    first = run_plan(plan, session=sess)
    ran = []
    monkeypatch.setattr(Confidence, "version", "2")  # a new release of the attack
    run_plan(plan, session=sess, on_record=ran.append)
    assert len(ran) == len(first) and all(r["attack"]["version"] == "2" for r in ran)
    ran.clear()
    run_plan(plan, session=sess, on_record=ran.append)  # its own records are current
    assert ran == []
    monkeypatch.setattr(Confidence, "params", {"calibrated": True})  # new default parameters
    run_plan(plan, session=sess, on_record=ran.append)
    assert len(ran) == len(first) and all(r["attack"]["params"] == {"calibrated": True} for r in ran)


def test_failed_cells_are_retried_only_when_asked(sess, tmp_path):
    plan = _plan(tmp_path, ["crash"])
    run_plan(plan, session=sess)
    ran = []
    run_plan(plan, session=sess, on_record=ran.append)
    assert ran == []
    run_plan(Plan(**{**plan.as_dict(), "retry_failed": True}), session=sess, on_record=ran.append)
    assert len(ran) == 2


@pytest.mark.slow
def test_same_seed_same_numbers_with_fresh_caches(reg, tmp_path):
    out = []
    for i in range(2):
        s = make_session(registry=reg, cache_dir=tmp_path / f"cache{i}")
        rec = run_cell("lira", session=s)
        assert rec["status"] == "ok", rec["error"]
        out.append((rec["metrics"], rec["utility"], rec["track"]["split_sha256"]))
    assert out[0] == out[1]


def test_event_hooks_see_the_plan_and_every_record_and_a_raising_logger_is_not_fatal(tmp_path, session_cache):
    import types

    from bench import hookimpl
    from bench._plugins import load_plugins

    seen = {"plans": [], "records": []}

    @hookimpl
    def run_started(plan):
        seen["plans"].append(plan)

    @hookimpl
    def record_written(record):
        seen["records"].append(record["run_id"])

    @hookimpl(specname="record_written")
    def broken_logger(record):
        raise ConnectionError("tracking server down")

    manager, _ = load_plugins()
    manager.register_module("logger", types.SimpleNamespace(run_started=run_started, record_written=record_written))
    manager.register_module("broken-logger", types.SimpleNamespace(broken_logger=broken_logger))
    # A session from bench.testing, as in a plugin's own tests: no manager patched in, the hooks still fire.
    session = make_session(registry=manager.registry(), cache_dir=session_cache, out_dir=str(tmp_path / "out"),
                           tracks=["synthetic-blobs"], attacks=["loss"], seeds=[0, 1])
    with pytest.warns(RuntimeWarning, match="broken-logger.*record_written.*tracking server down"):
        records = run_plan(session.plan, session=session)
    assert seen["plans"] == [session.plan]
    assert seen["records"] == [r["run_id"] for r in records] and len(records) == 2


class BrokenScenarioBlobs(SyntheticBlobs):
    name = "broken-scenario-blobs"

    def extra_nonmembers(self, data, split):
        raise KeyError("no such field")


class UnloadableBlobs(SyntheticBlobs):
    name = "unloadable-blobs"

    def load(self):
        raise FileNotFoundError("/nowhere/data.bin")


@pytest.mark.slow
def test_a_failing_scenario_is_noted_and_the_cell_stays_ok(session_cache):
    reg = registry_with(BrokenScenarioBlobs)
    rec = run_cell("loss", track="broken-scenario-blobs", session=make_session(registry=reg, cache_dir=session_cache, scenarios=True))
    assert rec["status"] == "ok"
    assert rec["scenarios"] == {"status": "failed", "error": "KeyError: 'no such field'"}


def test_a_track_that_fails_to_load_is_recorded_and_returned(tmp_path, session_cache):
    reg = registry_with(UnloadableBlobs)
    plan = Plan(tracks=["unloadable-blobs"], attacks=["loss"], defenses=["none"], seeds=[0], out_dir=str(tmp_path / "out"),
                device="cpu", progress=False, cache_dir=str(session_cache))
    (rec,) = run_plan(plan, session=make_session(registry=reg, cache_dir=session_cache))
    assert rec["status"] == "failed" and "FileNotFoundError: /nowhere/data.bin" in rec["error"]
