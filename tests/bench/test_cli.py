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
    lines = out.stdout.splitlines()
    assert lines[0].startswith("digits · budget smoke · classification · label attacks · 1 seed per cell: value [95% interval]")
    assert sum(line.startswith("digits · budget smoke") for line in lines) == 3  # label, scores, white-box: one table each
    for col in ("defense", "attack", "AUC", "TPR@0.1%FPR", "TPR@1%FPR", "test acc"):
        assert col in lines[2]
    assert max(map(len, lines)) <= 120 and "±" not in out.stdout
    from bench._plugins import load_plugins

    _, registry = load_plugins()
    expected = {d["name"] for d in registry.describe("attacks") if "classification" in d["tasks"]}
    rows = [l for l in lines[4:] if l.startswith("| none")]
    assert {r.split("|")[2].strip() for r in rows} == expected  # every applicable attack
    assert f"{len(expected)}/{len(expected)} cells ok" in out.stderr
    records = [json.loads(l) for l in (tmp_path / "runs" / "results.jsonl").read_text().splitlines()]
    assert {r["status"] for r in records} == {"ok"}
    assert {r["budget"]["tier"] for r in records} == {"smoke"} and {r["defense"]["name"] for r in records} == {"none"}


def test_unknown_names_are_refused_with_the_known_ones():
    res = CliRunner().invoke(cli, ["run", "--attacks", "loss,nosuch"])
    assert res.exit_code == 2
    assert "unknown attack 'nosuch'" in res.output and "lira" in res.output and "privbench list attacks" in res.output
    res = CliRunner().invoke(cli, ["run", "--track", "mnist-typo"])
    assert res.exit_code == 2 and "unknown track 'mnist-typo'" in res.output
    assert "Invalid value for --track:" in res.output and "--tracks" not in res.output  # the option the user typed
    res = CliRunner().invoke(cli, ["run", "--budget", "huge"])
    assert res.exit_code == 2 and "no budget tier 'huge'" in res.output and "privbench list tracks" in res.output


def test_malformed_set_is_refused_with_an_example_that_exists():
    from bench._plugins import load_plugins

    res = CliRunner().invoke(cli, ["run", "--set", "lira-n_queries=3"])
    assert res.exit_code == 2 and "NAME.KEY=VALUE" in res.output
    example = res.output.split("(e.g. ")[1].split(")")[0]
    name, key = example.split("=")[0].split(".")
    _, registry = load_plugins()
    assert key in registry.get("attacks", name).obj.params  # never a parameter that does not exist (lira.n_aug)


def test_set_help_covers_tracks_and_points_to_the_listing():
    res = CliRunner().invoke(cli, ["run", "--help"])
    text = " ".join(res.output.split())
    assert "option of a track, defense or attack" in text and "privbench list tracks|defenses|attacks" in text
    from bench._plugins import load_plugins

    _, registry = load_plugins()
    assert "e.g. lira.n_shadows=8 or cifar10.recipe=airbench" in text  # both examples are real options:
    assert "n_shadows" in registry.get("attacks", "lira").obj.params and "airbench" in registry.track("cifar10").recipes


@pytest.mark.parametrize("args, message", [
    (["--attacks", "lira", "--set", "lira.n_aug=4"],
     "attack 'lira' has no option 'n_aug'; its options: fixed_variance, n_queries, n_shadows, online"),
    (["--attacks", "loss", "--set", "rmia.n_shadows=2"], "'rmia' is no track, defense or attack of this run"),
    (["--attacks", "loss", "--set", "synthetic-blobs.recipe=cnn"], "track 'synthetic-blobs' has no option 'recipe'; its options: none"),
    (["--attacks", "loss", "--defenses", "l2", "--set", "l2.decay=0.1"], "defense 'l2' has no option 'decay'; its options: weight_decay"),
])
def test_unknown_set_names_and_keys_are_refused_before_anything_runs(tmp_path, args, message):
    res = CliRunner().invoke(cli, ["run", "--track", "synthetic-blobs", *args, "--out", str(tmp_path), "--no-progress"])
    assert res.exit_code == 2, res.output
    assert message in " ".join(res.output.split()) and "--set" in res.output
    assert not (tmp_path / "results.jsonl").exists()  # nothing trained, nothing recorded


OFFLINE_TRACK = """
from bench import Dataset, Track, hookimpl

class Offline(Track):
    name = "offline-track"
    description = "a hub dataset (or --data-dir with its parquet files)"
    def load(self):
        raise ConnectionError("Couldn't reach 'someone/data' on the Hub (LocalEntryNotFoundError)")

@hookimpl
def register_tracks(register):
    register(Offline)
"""


@pytest.mark.parametrize("data_dir", [None, "elsewhere"])
def test_a_track_whose_data_cannot_load_exits_3_suggesting_data_dir(tmp_path, data_dir):
    plugin = tmp_path / "offline.py"
    plugin.write_text(OFFLINE_TRACK)
    extra = ["--data-dir", str(tmp_path / data_dir)] if data_dir else []
    res = CliRunner().invoke(cli, ["run", "--plugin", str(plugin), "--track", "offline-track", "--attacks", "loss",
                                   "--out", str(tmp_path / "run"), "--no-progress", *extra])
    assert res.exit_code == 3, res.output
    assert "track 'offline-track' could not load its data: ConnectionError: Couldn't reach" in res.output
    assert "it reads: a hub dataset (or --data-dir with its parquet files)" in res.output and "nothing was run" in res.output
    if data_dir:
        assert f"check that --data-dir {tmp_path / data_dir} holds this track's data" in res.output
    else:
        assert "Pass --data-dir DIR with a local copy" in res.output
    assert not (tmp_path / "run" / "results.jsonl").exists()


@pytest.mark.slow
def test_cifar10_offline_exits_3_suggesting_data_dir(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    out = subprocess.run([PRIVBENCH, "run", "--track", "cifar10", "--attacks", "loss", "--out", str(tmp_path / "run"), "--no-progress"],
                         env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 3, out.stderr
    assert "track 'cifar10' could not load its data" in out.stderr and "--data-dir" in out.stderr
    assert "cifar-10-python.tar.gz" in out.stderr  # the track's description says what --data-dir takes


BROKEN_ATTACK = """
from bench import Attack, ThreatModel, hookimpl

class Broken(Attack):
    name = "broken"
    threat_model = ThreatModel.SCORES
    def score(self, ctx):
        raise RuntimeError("this attack always fails")

class BrokenInit(Broken):
    name = "broken-init"
    def __init__(self, **params):
        raise ValueError("cannot build this attack")

@hookimpl
def register_attacks(register):
    register(Broken)
    register(BrokenInit)
"""


def test_a_run_where_every_cell_failed_exits_3(tmp_path):
    plugin = tmp_path / "broken.py"
    plugin.write_text(BROKEN_ATTACK)
    res = CliRunner().invoke(cli, ["run", "--plugin", str(plugin), "--track", "synthetic-blobs", "--attacks", "broken-init",
                                   "--out", str(tmp_path / "run"), "--no-progress"])
    assert res.exit_code == 3, res.output
    assert "nothing ran: all 1 cells failed" in res.stderr and "--retry-failed" in res.stderr
    assert "not ok: none/broken-init failed×1" in res.stdout


@pytest.mark.slow
def test_a_run_with_some_failed_cells_exits_1_and_progress_names_the_cell(tmp_path):
    plugin = tmp_path / "broken.py"
    plugin.write_text(BROKEN_ATTACK)
    args = ["run", "--plugin", str(plugin), "--track", "synthetic-blobs", "--out", str(tmp_path / "run")]
    res = CliRunner().invoke(cli, [*args, "--attacks", "broken,loss", "--progress"])
    assert res.exit_code == 1, res.output
    assert "1 of 2 cells failed" in res.stderr and "this attack always fails" in res.stderr
    assert "synthetic-blobs/none/broken/seed0" in res.stderr and "running synthetic-blobs/none/" in res.stderr  # the cells bar
    assert "synthetic-blobs/none/loss/seed0: ok" in res.stderr
    res = CliRunner().invoke(cli, [*args, "--attacks", "loss", "--no-progress"])
    assert res.exit_code == 0, res.output  # the ok cell alone, resumed
    res = CliRunner().invoke(cli, [*args, "--attacks", "loss", "--strict", "--no-progress"])
    assert res.exit_code == 0


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
