import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.cli import cli

PRIVBENCH = str(Path(sys.executable).with_name("privbench"))


@pytest.mark.slow
def test_run_with_no_arguments_runs_digits_and_prints_a_leaderboard(tmp_path, session_cache):
    env = {**os.environ, "PRIVBENCH_CACHE_DIR": str(session_cache)}
    out = subprocess.run([PRIVBENCH, "run"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    header = out.stdout.splitlines()[0]
    for col in ("track", "attack", "AUC", "TPR@0.1%FPR", "TPR@1%FPR", "test acc"):
        assert col in header
    from bench._plugins import load_plugins

    _, registry = load_plugins()
    expected = {d["name"] for d in registry.describe("attacks") if "classification" in d["tasks"]}
    rows = [l for l in out.stdout.splitlines() if l.startswith("| digits")]
    assert {r.split("|")[4].strip() for r in rows} == expected  # every applicable attack
    assert f"{len(expected)}/{len(expected)} cells ok" in out.stderr
    records = [json.loads(l) for l in (tmp_path / "runs" / "results.jsonl").read_text().splitlines()]
    assert {r["status"] for r in records} == {"ok"}
    assert {r["budget"]["tier"] for r in records} == {"smoke"} and {r["defense"]["name"] for r in records} == {"none"}


def test_unknown_names_are_refused_with_the_known_ones():
    res = CliRunner().invoke(cli, ["run", "--attacks", "loss,nosuch"])
    assert res.exit_code == 2
    assert "unknown attack 'nosuch'" in res.output and "lira" in res.output
    res = CliRunner().invoke(cli, ["run", "--track", "mnist-typo"])
    assert res.exit_code == 2 and "unknown track 'mnist-typo'" in res.output
    res = CliRunner().invoke(cli, ["run", "--budget", "huge"])
    assert res.exit_code == 2 and "no budget tier 'huge'" in res.output


def test_malformed_set_is_refused():
    res = CliRunner().invoke(cli, ["run", "--set", "lira-n_queries=3"])
    assert res.exit_code == 2 and "NAME.KEY=VALUE" in res.output


def test_unknown_attack_parameter_exits_2_by_name_before_training(tmp_path):
    res = CliRunner().invoke(cli, ["run", "--track", "synthetic-blobs", "--attacks", "loss", "--set", "loss.bogus=1",
                                   "--out", str(tmp_path), "--no-progress"])
    assert res.exit_code == 2
    assert "attack 'loss' has no parameter 'bogus'" in res.output and not (tmp_path / "results.jsonl").exists()


@pytest.mark.slow
def test_leaderboard_command_reads_run_folders(tmp_path):
    res = CliRunner().invoke(cli, ["run", "--track", "synthetic-blobs", "--attacks", "loss", "--seeds", "2", "--out", str(tmp_path), "--no-progress"])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(cli, ["leaderboard", str(tmp_path), "--format", "json"])
    (row,) = json.loads(res.output)
    assert row["attack"] == "loss" and row["seeds"] == 2 and 0 <= row["auc"] <= 1
    csv = CliRunner().invoke(cli, ["leaderboard", str(tmp_path / "results.jsonl"), "--format", "csv"]).output
    assert csv.splitlines()[0].startswith("track,budget,defense,attack,seeds,auc,auc_std")


def test_views_refuse_a_record_of_an_unknown_schema_version_by_file_and_version(tmp_path):
    from bench.testing import make_record

    (tmp_path / "results.jsonl").write_text(json.dumps({**make_record().to_dict(), "schema_version": 9}) + "\n")
    for args in (["leaderboard", str(tmp_path)], ["frontier", str(tmp_path)]):
        res = CliRunner().invoke(cli, args)
        assert res.exit_code == 1, res.output  # a clear message, not a traceback
        assert f"{tmp_path / 'results.jsonl'}:1: schema_version 9 is not one this privbench reads" in res.output
