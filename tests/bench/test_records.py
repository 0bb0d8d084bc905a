import json

import numpy as np
import pytest

from bench._records import ResultsWriter, dumps, read_records


def test_writer_appends_lines_and_keeps_latest_per_run_id(tmp_path):
    w = ResultsWriter(tmp_path)
    w.append({"run_id": "a", "status": "failed"})
    w.append({"run_id": "b", "status": "ok"})
    w.append({"run_id": "a", "status": "ok"})
    recs = {r["run_id"]: r["status"] for r in read_records(tmp_path)}
    assert recs == {"a": "ok", "b": "ok"}
    assert len((tmp_path / "results.jsonl").read_text().splitlines()) == 3


def test_torn_tail_is_repaired_before_the_next_append(tmp_path):
    w = ResultsWriter(tmp_path)
    w.append({"run_id": "a", "status": "ok"})
    with open(tmp_path / "results.jsonl", "a") as f:
        f.write('{"run_id": "b", "sta')
    w2 = ResultsWriter(tmp_path)
    w2.append({"run_id": "c", "status": "ok"})
    with pytest.warns(RuntimeWarning, match=r"results.jsonl:2: unreadable"):
        ids = sorted(r["run_id"] for r in read_records(tmp_path))
    assert ids == ["a", "c"]


def test_scores_are_saved_atomically(tmp_path):
    w = ResultsWriter(tmp_path)
    rel = w.save_scores("abc", {"scores": np.arange(3.0)})
    assert rel == "scores/abc.npz"
    np.testing.assert_array_equal(np.load(tmp_path / rel)["scores"], [0, 1, 2])
    assert [p.name for p in (tmp_path / "scores").iterdir()] == ["abc.npz"]


def test_records_refuse_nan():
    with pytest.raises(ValueError):
        dumps({"run_id": "x", "metrics": {"auc": float("nan")}})
    assert json.loads(dumps({"v": np.float32(0.5), "a": np.arange(2)})) == {"a": [0, 1], "v": 0.5}
