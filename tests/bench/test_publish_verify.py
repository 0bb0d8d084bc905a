"""`privbench leaderboard verify`: re-running a committed digits entry on CPU reproduces it within tolerance."""

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.cli import cli
from bench.site import entry_records, render_readme, rows_from_records

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")  # private: the second verify reuses the first one's models


@pytest.fixture
def entry(tmp_path):
    """A copy of the committed digits/cpu loss-vs-none seed-0 entry (the cheapest cell to re-run)."""
    found = sorted((REPO / "leaderboards" / "digits" / "cpu").glob("none__loss__seed0__*.json"))
    assert found, "the digits cpu leaderboard has a loss/none seed-0 entry"
    root = tmp_path / "lb"
    dest = root / "digits" / "cpu" / found[0].name
    dest.parent.mkdir(parents=True)
    shutil.copy(found[0], dest)
    return dest


@pytest.mark.slow
def test_verify_reproduces_a_committed_digits_entry_and_marks_it(entry, cache):
    published = json.loads(entry.read_text())
    assert published["verification"] is None or published["verification"]["device"] == "cpu"
    res = CliRunner().invoke(cli, ["leaderboard", "verify", str(entry), "--device", "cpu", "--cache-dir", str(cache), "--mark"])
    assert res.exit_code == 0, res.output
    assert "agrees (marked verified)" in res.output and "DIFFERS" not in res.output
    marked = json.loads(entry.read_text())
    v = marked["verification"]
    assert v["device"] == "cpu" and "cores" in v["hardware"] and v["verified_at"]
    for key, tol in marked["tolerance"].items():
        old = published["record"]["utility" if key == "test_accuracy" else "metrics"][key]
        assert abs(v["metrics"][key] - old) <= tol
    assert marked["record"] == published["record"], "verification never rewrites the published record"
    readme = render_readme(rows_from_records(entry_records(entry.parents[2])))
    assert "| verified |" in readme


@pytest.mark.slow
def test_verify_reports_a_disagreeing_entry(entry, cache):
    tampered = json.loads(entry.read_text())
    tampered["record"]["metrics"]["auc"] += 0.1
    tampered["verification"] = {"device": "cpu", "hardware": "an earlier check"}
    entry.write_text(json.dumps(tampered))
    res = CliRunner().invoke(cli, ["leaderboard", "verify", str(entry), "--device", "cpu", "--cache-dir", str(cache), "--mark"])
    assert res.exit_code == 1
    assert "auc: published" in res.output and "DIFFERS" in res.output and "does NOT agree" in res.output
    assert "(verification removed)" in res.output
    assert json.loads(entry.read_text())["verification"] is None, "a disagreeing entry loses its verification"


def test_compare_within_tolerance_and_spec_mismatch():
    """No re-run: ``compare`` on records (agree, disagree, a different resolved spec, a failed re-run)."""
    from bench.testing import make_record
    from bench.verify import compare

    def rec(auc, params=None, status="ok"):
        return make_record("loss", {"name": "none", "params": params or {}}, metrics={"auc": auc}, status=status,
                           utility={"test_accuracy": 0.9}, track={"name": "t", "version": "1", "split_sha256": "s", "task": "classification"})

    tol = {"auc": 0.02, "test_accuracy": 0.02}
    assert compare(rec(0.70), rec(0.71), tol)["agree"] is True
    out = compare(rec(0.70), rec(0.75), tol)
    assert out["agree"] is False and out["diffs"]["auc"][2] == pytest.approx(0.05)
    out = compare(rec(0.70), rec(0.70, {"p": 1}), tol)
    assert out["agree"] is False and "cell spec" in out["error"]
    assert compare(rec(0.70), rec(0.70, status="failed"), tol)["agree"] is False


def test_set_verification_changes_only_the_verification(entry):
    from bench._entry import set_verification

    before = json.loads(entry.read_text())
    set_verification(entry, {"device": "cpu", "hardware": "x"})
    after = json.loads(entry.read_text())
    assert after["record"] == before["record"] and after["record"]["schema_version"] == 1  # a v1 record stays as published
    assert after["verification"] == {"device": "cpu", "hardware": "x"}
