"""Tests for bench.publish and `privbench leaderboard submit/build`: validation, entries, tables, --check."""

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.cli import cli
from bench import Record
from bench.aggregate import within_tier
from bench.publish import load_entries, submit, validate_record
from bench.site import check_readme, render_readme, rows_from_records, entry_records

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A real run: digits, loss and lira-offline, smoke budget, two seeds (private cache)."""
    from bench._runner import run_plan
    from bench.testing import make_session

    out = tmp_path_factory.mktemp("run")
    session = make_session(tracks=["digits"], attacks=["loss"], defenses=["none"], seeds=[0, 1], budget="smoke", out_dir=str(out))
    records = run_plan(session.plan, session=session)
    assert [r.status for r in records] == ["ok", "ok"]
    return out


def _records(run_dir):
    return [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines() if line.strip()]


def _variant(run_dir, tmp_path, change):
    """A copy of the run folder whose first record is changed by ``change(record)``."""
    out = tmp_path / "variant"
    shutil.copytree(run_dir, out)
    recs = _records(run_dir)
    change(recs[0])
    (out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    return out / "results.jsonl"


def _refused(results, root, expect):
    sub = submit([results], root)
    messages = [str(p) for p in sub.problems]
    assert any(expect in m for m in messages), messages
    assert sub.written == [] and not Path(root).exists(), "a refused submission must write nothing"
    return messages


@pytest.mark.slow
def test_good_submission_lands_as_entries_and_in_the_tables(run_dir, tmp_path):
    root = tmp_path / "lb"
    res = CliRunner().invoke(cli, ["leaderboard", "submit", str(run_dir / "results.jsonl"), "--root", str(root),
                                   "--title", "Loss baseline", "--paper", "https://example.org/p", "--code", "https://example.org/c"])
    assert res.exit_code == 0, res.output
    entries = load_entries(root)
    assert len(entries) == 2
    for path, e in entries:
        assert path.parent == root / "digits" / "smoke"
        assert e.record.status == "ok" and e.submission.title == "Loss baseline" and e.record.schema_version == 2
        assert e.verification is None and "scores_file" not in json.loads(path.read_text())["record"]
        fpr, tpr = e.roc["fpr"], e.roc["tpr"]
        assert len(fpr) == len(tpr) and fpr == sorted(fpr) and tpr == sorted(tpr) and fpr[-1] == 1.0 and tpr[-1] == 1.0
    # the tables are stale until rebuilt, then up to date and showing the entries
    res = CliRunner().invoke(cli, ["leaderboard", "build", "--root", str(root), "--check"])
    assert res.exit_code != 0 and "stale" in res.output
    res = CliRunner().invoke(cli, ["leaderboard", "build", "--root", str(root), "--out", str(tmp_path / "site")])
    assert res.exit_code == 0, res.output
    readme = (root / "README.md").read_text()
    auc = sum(e.record.metrics["auc"] for _, e in entries) / 2
    assert "## digits — `smoke` budget" in readme and "| 1 | loss" in readme and f"{auc:.3f}" in readme
    assert "self-reported" in readme and "[paper](https://example.org/p)" in readme
    assert (tmp_path / "site" / "index.html").exists()
    assert CliRunner().invoke(cli, ["leaderboard", "build", "--root", str(root), "--check"]).exit_code == 0
    # editing an entry makes the committed table stale
    path = entries[0][0]
    e = json.loads(path.read_text())
    e["record"]["metrics"]["auc"] = 0.99
    path.write_text(json.dumps(e))
    assert check_readme(root)[0] is False


@pytest.mark.slow
def test_wrong_split_hash_is_refused(run_dir, tmp_path):
    results = _variant(run_dir, tmp_path, lambda r: r["track"].update(split_sha256="0" * 64))
    _refused(results, tmp_path / "lb", "split sha256 000000000000… does not match track 'digits'")


@pytest.mark.slow
def test_unknown_budget_tier_is_refused(run_dir, tmp_path):
    results = _variant(run_dir, tmp_path, lambda r: r["budget"].update(tier="huge"))
    _refused(results, tmp_path / "lb", "budget tier 'huge' is unknown to track 'digits'")


@pytest.mark.slow
def test_budget_not_respected_is_refused(run_dir, tmp_path):
    results = _variant(run_dir, tmp_path, lambda r: r["budget"]["used"].update(shadow_models=99))
    _refused(results, tmp_path / "lb", "budget not respected: used 99 shadow models")


@pytest.mark.slow
def test_failed_status_is_refused(run_dir, tmp_path):
    def fail(r):
        r.update(status="failed", error="attack 'loss' raised ValueError: boom\ntraceback")

    messages = _refused(_variant(run_dir, tmp_path, fail), tmp_path / "lb", "status is 'failed', only 'ok' cells are published (attack 'loss' raised ValueError: boom)")
    assert all("seed0" in m for m in messages), "the problem names the record it is about"


@pytest.mark.slow
@pytest.mark.parametrize("key", ["torch", "device", "privbench_version", "python"])
def test_missing_provenance_is_refused(run_dir, tmp_path, key):
    results = _variant(run_dir, tmp_path, lambda r: r["provenance"].pop(key))
    _refused(results, tmp_path / "lb", f"provenance incomplete: missing {key}")


@pytest.mark.slow
def test_missing_plugin_version_and_schema_are_refused(run_dir, tmp_path):
    def strip(r):
        r["attack"]["version"] = None
        r["defense"].pop("plugin")

    messages = _refused(_variant(run_dir, tmp_path, strip), tmp_path / "lb", "attack version is missing")
    assert any("defense plugin is missing" in m for m in messages)
    results = _variant(run_dir, tmp_path / "v99", lambda r: r.update(schema_version=99))
    _refused(results, tmp_path / "lb", f"{results}:1: schema_version 99 is not one this privbench reads (1, 2)")


def test_v1_results_are_migrated_and_published(run_dir, tmp_path):
    def as_v1(r):  # what privbench wrote before records were typed
        r["schema_version"] = 1
        r["utility"] = {} if r["status"] != "ok" else r["utility"]

    sub = submit([_variant(run_dir, tmp_path, as_v1)], tmp_path / "lb")
    assert sub.problems == [] and len(sub.written) == 2
    assert {e.record.schema_version for _, e in load_entries(tmp_path / "lb")} == {2}


@pytest.mark.slow
def test_scores_must_match_the_record(run_dir, tmp_path):
    results = _variant(run_dir, tmp_path, lambda r: r["metrics"].update(auc=0.97))
    _refused(results, tmp_path / "lb", "the record says 0.970000")


@pytest.mark.slow
def test_cli_refusal_exits_nonzero_with_messages(run_dir, tmp_path):
    results = _variant(run_dir, tmp_path, lambda r: r["track"].update(split_sha256="f" * 64))
    res = CliRunner().invoke(cli, ["leaderboard", "submit", str(results), "--root", str(tmp_path / "lb")])
    assert res.exit_code == 1
    assert "refused: results.jsonl:1 (digits/none/loss/seed0): split sha256" in res.output and "nothing was written" in res.output
    # --skip-invalid publishes the good record and still exits 1
    res = CliRunner().invoke(cli, ["leaderboard", "submit", str(results), "--root", str(tmp_path / "lb"), "--skip-invalid"])
    assert res.exit_code == 1 and len(load_entries(tmp_path / "lb")) == 1


@pytest.mark.slow
def test_entries_outside_their_tier_are_listed_apart(run_dir, tmp_path):
    root = tmp_path / "lb"
    assert submit([run_dir], root).problems == []
    entries = load_entries(root)
    assert all(within_tier(e.record) for _, e in entries)
    for path, _ in entries:
        entry = json.loads(path.read_text())
        entry["record"]["provenance"]["device"] = "cuda"  # a CPU tier measured on a GPU
        path.write_text(json.dumps(entry))
    assert not any(within_tier(e.record) for _, e in load_entries(root))
    readme = render_readme(rows_from_records(entry_records(root)))
    ranked, apart = readme.split("Listed apart")
    assert "| 1 | loss" not in ranked and "| loss (calibration_shadows=1) | none | 2 |" in apart and "| cuda |" in apart


@pytest.mark.slow
def test_plain_leaderboard_command_and_html_format(run_dir):
    res = CliRunner().invoke(cli, ["leaderboard", str(run_dir), "--format", "html"])
    assert res.exit_code == 0, res.output
    assert res.output.startswith("<!DOCTYPE html>") and 'class="sortable' in res.output and ">loss" in res.output
    res = CliRunner().invoke(cli, ["leaderboard", str(run_dir), "--format", "csv"])
    assert res.exit_code == 0 and res.output.splitlines()[1].startswith("digits,smoke,none,loss,2,")


@pytest.mark.slow
def test_validate_record_accepts_the_runs_records(run_dir):
    from bench._plugins import load_plugins
    from bench.publish import _Tracks

    tracks = _Tracks(load_plugins(())[1])
    assert [validate_record(Record.from_dict(r), tracks, run_dir) for r in _records(run_dir)] == [[], []]


def test_committed_leaderboards_are_up_to_date():
    """What CI runs: `privbench leaderboard build --check` on the committed leaderboards/."""
    root = REPO / "leaderboards"
    assert load_entries(root), "leaderboards/ has published entries"
    res = CliRunner().invoke(cli, ["leaderboard", "build", "--check", "--root", str(root)])
    assert res.exit_code == 0, res.output


def test_roc_points_are_a_log_spaced_envelope_of_the_exact_curve():
    import numpy as np

    from bench.metrics import roc, tpr_at_fpr
    from bench.publish import roc_points

    rng = np.random.default_rng(0)
    y = np.arange(2000) < 1000
    s = rng.normal(y * 1.0, 1.0)
    pts = roc_points(s, y)
    fpr, tpr, _ = roc(s, y)
    assert len(pts["fpr"]) <= 45 and pts["fpr"][0] == 0.001 and pts["fpr"][-1] == 1.0  # starts at 1/n_nonmembers
    for f, t in zip(pts["fpr"], pts["tpr"]):
        assert abs(t - tpr_at_fpr(fpr, tpr, f)) < 1e-6


@pytest.mark.slow
def test_a_retried_cell_is_submitted_from_its_latest_line(run_dir, tmp_path):
    # A resumed run (--retry-failed) appends the cell again: the earlier failed line is superseded, not refused.
    out = tmp_path / "retried"
    shutil.copytree(run_dir, out)
    recs = _records(run_dir)
    failed = {**recs[0], "status": "failed", "error": "attack 'loss' raised RuntimeError: flaky", "metrics": {}}
    (out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [failed, *recs]))
    sub = submit([out / "results.jsonl"], tmp_path / "lb")
    assert sub.problems == [] and len(sub.written) == 2


def test_a_name_that_leaves_the_root_is_refused_before_writing(tmp_path):
    from bench._entry import entry_path
    from bench.testing import make_record

    rec = make_record("loss", {"name": "../../escaped"})
    with pytest.raises(ValueError, match="not a plain name"):
        entry_path(tmp_path / "lb", rec)
    assert not any(tmp_path.rglob("*.json"))


def test_non_finite_numbers_are_reported_not_written(tmp_path):
    from bench.publish import _non_finite
    from bench.testing import make_record

    rec = make_record("loss", metrics={"auc": float("nan"), "tpr@1%fpr": 0.1}, budget={"tier": "cpu", "used": {"queries": float("inf")}})
    assert _non_finite(rec) == ["metric 'auc' is not a finite number", "budget.used 'queries' is not a finite number"]
    assert _non_finite(make_record("loss", metrics={"auc": 0.6})) == []
