"""The typed result record: JSON round trip, v1 migration (the committed boards), refusals, the writer and reader."""

import json
from pathlib import Path

import numpy as np
import pytest

from bench import Record, RecordError
from bench._record import SCHEMA_VERSION, migrate_v1
from bench._records import RecordDraft, ResultsWriter, dumps, orphan_record, read_records
from bench._record import AttackRef, DefenseRef, TrackRef
from bench.testing import make_record

REPO = Path(__file__).resolve().parents[2]
# The committed version-1 records, in the submission files (one JSONL per submission: a header line, then a line per
# cell); the boards' earlier submissions, superseded by the republish (version 2), stay on disk.
COMMITTED = [(path, i) for path in sorted((REPO / "leaderboards").glob("*/*/*.jsonl"))
             for i, line in enumerate(path.read_text().splitlines()) if i and json.loads(line)["record"]["schema_version"] == 1]


def _draft(run_id="r1"):
    return RecordDraft(run_id, TrackRef("digits", "1", "ab" * 32, "classification"), AttackRef("loss", {}, "loss"),
                       DefenseRef("none", {}, "none", adaptive_shadows=True), 0, "smoke", "cpu")


def test_a_drafted_record_round_trips_through_json():
    d = _draft()
    d.limits("smoke", {"max_shadows": 2, "device_seconds": 60, "queries_per_candidate": 4})
    d.used({"queries": 10, "shadow_models": 1, "device_seconds": 0.5})
    d.trained({"train_accuracy": 1.0, "test_accuracy": 0.9}, {"epsilon": 3.0})
    rec = d.ok({"auc": np.float64(0.75), "auc_ci": np.array([0.7, 0.8]), "n_members": np.int64(5)}, scenarios={"status": "none", "sets": {}})
    data = json.loads(rec.to_json())
    assert data["schema_version"] == SCHEMA_VERSION == 2
    assert data["metrics"] == {"auc": 0.75, "auc_ci": [0.7, 0.8], "n_members": 5}  # numpy values became plain JSON
    assert data["defense"]["report"] == {"epsilon": 3.0} and data["utility"] == {"train_accuracy": 1.0, "test_accuracy": 0.9}
    assert "scores_file" not in data and data["scenarios"] == {"status": "none", "sets": {}}
    back = Record.from_json(rec.to_json())
    assert back == rec and back.to_dict() == data
    assert back.budget.used["queries"] == 10 and back.defense.report["epsilon"] == 3.0


def test_a_record_of_several_runs_takes_the_least_isolated_ones():
    # A pool cell's targets and a scenario run each ran in a worker: one without a private /tmp (the kernel refused
    # it; a cell might make it refuse) is the record's, whichever run it was.
    box = {"mode": "process", "sandbox": "bwrap", "sandboxed": True, "private_tmp": True}
    d = _draft()
    d.isolated(box, None, {**box, "private_tmp": False})
    assert d.isolation == {**box, "private_tmp": False}
    d.isolated({**box, "sandboxed": False}, box)
    assert d.isolation == {**box, "sandboxed": False}
    d.isolated(box, box)
    assert d.isolation == box and d.isolation is not box  # a copy: the run's own dict is not the record's
    d.isolated(None)
    assert d.isolation is None


def test_a_record_reads_like_its_json():
    rec = make_record("loss", metrics={"auc": 0.6}, utility={"test_accuracy": 0.8})
    assert rec["attack"]["name"] == "loss" == rec.attack.name
    assert set(rec["utility"]) == {"train_accuracy", "test_accuracy"} and rec["utility"]["test_accuracy"] == 0.8
    assert rec.get("scores_file") is None and "scores_file" not in rec
    assert rec == rec.to_dict() and rec.to_dict() == rec  # equal to its JSON form both ways
    assert rec != rec.replace(seed=1)


def test_failed_cells_keep_no_metrics_and_a_status_outside_the_list_is_refused():
    rec = _draft().fail("timeout", "attack 'loss' did not return")
    assert rec.status == "timeout" and rec.metrics == {} and rec.utility.test_accuracy is None
    with pytest.raises(RecordError, match="status 'done' is not one of ok, failed, timeout, over_budget"):
        _draft().fail("done", None)


@pytest.mark.parametrize("path, line", COMMITTED[:: max(1, len(COMMITTED) // 40)], ids=lambda x: x.name[:20] if hasattr(x, "name") else str(x))
def test_committed_v1_records_migrate_losslessly(path, line):
    assert len(COMMITTED) >= 700  # the committed boards' cells (789 when migrated)
    data = json.loads(path.read_text().splitlines()[line])["record"]
    assert data["schema_version"] == 1
    rec = Record.from_dict(data, str(path))
    assert rec.schema_version == 2
    v2 = rec.to_dict()
    for key, value in data.items():  # every v1 value survives; only the version changes
        if key != "schema_version":
            assert {k: v for k, v in v2[key].items() if k in value} == value if isinstance(value, dict) else v2[key] == value, key
    assert Record.from_dict(v2) == rec


def test_v1_migration_fills_what_v1_left_out():
    v1 = {"schema_version": 1, "run_id": "x", "track": {"name": "t", "version": None, "split_sha256": None},
          "attack": {"name": "a", "params": {}, "plugin": None, "version": None},
          "defense": {"name": "d", "params": {}, "plugin": None, "version": None},
          "seed": 0, "budget": {"tier": "cpu", "limits": {}, "used": {}}, "status": "failed", "error": "boom",
          "metrics": {}, "utility": {}, "provenance": {"device": "unknown"}, "created_at": "2026-01-01T00:00:00Z"}
    out = migrate_v1(v1)
    assert out["track"]["task"] is None  # the track never loaded: the task is unknown, not guessed
    assert out["utility"] == {"train_accuracy": None, "test_accuracy": None}
    assert out["defense"]["report"] == {} and out["defense"]["adaptive_shadows"] is None
    loaded = migrate_v1({**v1, "track": {"name": "t", "version": "1", "split_sha256": "s"}})
    assert loaded["track"]["task"] == "classification"  # v1 records of loaded tracks predate other tasks
    assert Record.from_dict(v1).error == "boom"


def test_unknown_version_and_unknown_keys_are_refused_naming_the_culprit(tmp_path):
    data = make_record().to_dict()
    path = tmp_path / "results.jsonl"
    path.write_text(json.dumps(data) + "\n" + json.dumps({**data, "run_id": "z", "schema_version": 7}) + "\n")
    with pytest.raises(RecordError, match=rf"{path}:2: schema_version 7 is not one this privbench reads \(1, 2\)"):
        read_records(tmp_path)
    with pytest.raises(RecordError, match=r"unknown key\(s\) 'colour' in TrackRef"):
        Record.from_dict({**data, "track": {**data["track"], "colour": "red"}})
    with pytest.raises(RecordError, match="missing key"):
        Record.from_dict({k: v for k, v in data.items() if k != "run_id"})


def test_writer_appends_lines_and_keeps_latest_per_run_id(tmp_path):
    w = ResultsWriter(tmp_path)
    w.append(make_record(run_id="a", status="failed"))
    w.append(make_record(run_id="b"))
    w.append(make_record(run_id="a"))
    recs = {r.run_id: r.status for r in read_records(tmp_path)}
    assert recs == {"a": "ok", "b": "ok"}
    assert len((tmp_path / "results.jsonl").read_text().splitlines()) == 3
    with pytest.raises(TypeError, match="bench.Record"):
        w.append({"run_id": "c"})


def test_torn_tail_is_repaired_before_the_next_append(tmp_path):
    w = ResultsWriter(tmp_path)
    w.append(make_record(run_id="a"))
    with open(tmp_path / "results.jsonl", "a") as f:
        f.write('{"run_id": "b", "sta')
    w2 = ResultsWriter(tmp_path)
    w2.append(make_record(run_id="c"))
    with pytest.warns(RuntimeWarning, match=r"results.jsonl:2: unreadable"):
        ids = sorted(r.run_id for r in read_records(tmp_path))
    assert ids == ["a", "c"]


def test_scores_are_saved_atomically(tmp_path):
    w = ResultsWriter(tmp_path)
    rel = w.save_scores("abc", {"scores": np.arange(3.0)})
    assert rel == "scores/abc.npz"
    np.testing.assert_array_equal(np.load(tmp_path / rel)["scores"], [0, 1, 2])
    assert [p.name for p in (tmp_path / "scores").iterdir()] == ["abc.npz"]


def test_records_refuse_nan():
    with pytest.raises(ValueError):
        dumps(make_record(metrics={"auc": float("nan")}))
    assert json.loads(dumps({"v": np.float32(0.5), "a": np.arange(2)})) == {"a": [0, 1], "v": 0.5}


def test_orphan_record_names_the_cell():
    from bench._runner import Cell

    cell = Cell("nope", "none", "loss", 3, "cpu", {}, {"k": 1})
    rec = orphan_record(cell, "track 'nope' is not installed")
    assert rec.status == "failed" and rec.track.task is None and rec.attack.params == {"k": 1} and rec.seed == 3
    assert orphan_record(cell, "again").run_id == rec.run_id  # the cell's hash: stable
    assert Record.from_json(rec.to_json()) == rec


def test_records_cross_process_boundaries():
    """Executors ship records between processes (local slots, Ray): a record pickles and copies intact."""
    import copy
    import pickle

    rec = make_record(metrics={"auc": 0.5, "auc_ci": [0.4, 0.6]}, utility={"test_accuracy": 0.9})
    for back in (pickle.loads(pickle.dumps(rec)), copy.deepcopy(rec)):
        assert back == rec and type(back.utility).__name__ == "Utility" and back.metrics is not rec.metrics


@pytest.mark.parametrize("path, value", [
    (("seed",), "0"), (("seed",), 0.5), (("seed",), True), (("isolation",), ["sandboxed"]), (("per_target",), [1]),
    (("defense", "report"), ["x"]), (("track", "split_seed"), "7"), (("official",), "yes")])
def test_a_field_of_the_wrong_type_is_refused_naming_it(path, value):
    """Views read these as their types: seeds "0" and 1 in one row, an isolation list, a defense report list each
    stopped every board build (adversarial review). Bools are not numbers."""
    data = make_record("loss", "none", isolation={"mode": "process", "sandboxed": True}).to_dict()
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(RecordError, match=repr(path[-1])):
        Record.from_dict(data)
