"""`privbench frontier` and `leaderboard --by defense` on a small real run: a valid PNG whose data matches the records."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from bench._records import read_records
from bench._runner import Plan, run_plan
from bench.cli import cli
from bench.frontier import frontier_rows
from bench.leaderboard import by_defense
from bench.testing import make_record, make_session

DEFENSES = ["none", "label-only", "l2"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("frontier-run")
    plan = Plan(tracks=["synthetic-blobs"], attacks=["loss"], defenses=DEFENSES, seeds=[0], budget="smoke", out_dir=str(out), progress=False, device="cpu")
    records = run_plan(plan, session=make_session(tracks=plan.tracks, attacks=plan.attacks, defenses=plan.defenses, out_dir=str(out)))
    assert [r.status for r in records] == ["ok"] * len(DEFENSES)
    return out


@pytest.mark.slow
def test_frontier_png_is_valid_and_matches_the_records(run_dir, tmp_path):
    png = tmp_path / "frontier.png"
    result = CliRunner().invoke(cli, ["frontier", str(run_dir), "--attack", "loss", "--out", str(png), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    from PIL import Image

    with Image.open(png) as im:
        im.verify()
    with Image.open(png) as im:
        assert im.size[0] > 300 and im.size[1] > 200
        assert len(np.unique(np.asarray(im.convert("L")))) > 10  # something is drawn, not a blank canvas

    table = json.loads(result.stdout[result.stdout.index("[") : result.stdout.rindex("]") + 1])
    records = {r.defense.name: r for r in read_records(run_dir)}
    assert sorted(row["defense"] for row in table) == sorted(DEFENSES)
    for row in table:
        rec = records[row["defense"]]
        assert row["attack"] == "loss" and row["params"] == rec.defense.params
        assert row["test_accuracy"] == pytest.approx(rec.utility.test_accuracy)
        assert row["train_accuracy"] == pytest.approx(rec.utility.train_accuracy)
        for k in ("tpr@0.1%fpr", "tpr@1%fpr", "auc"):
            assert row[k] == pytest.approx(rec.metrics[k])


@pytest.mark.slow
def test_frontier_svg_and_strongest_attack_by_default(run_dir, tmp_path):
    svg = tmp_path / "f.svg"
    result = CliRunner().invoke(cli, ["frontier", str(run_dir), "--out", str(svg)])
    assert result.exit_code == 0, result.output
    assert svg.read_text().lstrip().startswith("<?xml") and "label-only" in svg.read_text()
    assert "| label-only" in result.stdout


def test_frontier_picks_the_strongest_attack_per_defense():
    def rec(defense, attack, tpr, auc, acc):
        return make_record(attack, defense, metrics={"tpr@0.1%fpr": tpr, "tpr@1%fpr": tpr, "auc": auc},
                           utility={"train_accuracy": 1.0, "test_accuracy": acc})

    records = [rec("none", "a", 0.05, 0.7, 0.9), rec("none", "b", 0.10, 0.6, 0.9), rec("dp", "a", 0.001, 0.52, 0.7), rec("dp", "b", 0.0, 0.55, 0.7)]
    rows = {r["defense"]: r for r in frontier_rows(records)}
    assert rows["none"]["attack"] == "b" and rows["dp"]["attack"] == "a"
    view = {r["defense"]: r for r in by_defense(records)}
    assert view["none"]["strongest_attack"] == "b" and view["dp"]["strongest_attack"] == "a"
    assert view["dp"]["utility_cost"] == pytest.approx(0.2) and view["none"]["utility_cost"] == 0
    assert view["dp"]["attacks"] == 2


def test_frontier_points_are_per_defense_configuration_with_its_epsilon():
    def rec(eps, attack, tpr, acc):
        return make_record(attack, {"name": "dpsgd", "params": {"eps": eps}, "report": {"epsilon": eps}},
                           metrics={"tpr@0.1%fpr": tpr, "tpr@1%fpr": tpr, "auc": 0.5 + tpr}, utility={"test_accuracy": acc})

    rows = frontier_rows([rec(1, "a", 0.0, 0.6), rec(8, "a", 0.01, 0.8), rec(8, "b", 0.02, 0.8)])
    assert [(r["params"], r["attack"], r["epsilon"]) for r in rows] == [({"eps": 8}, "b", 8), ({"eps": 1}, "a", 1)]


@pytest.mark.slow
def test_leaderboard_by_defense_cli(run_dir):
    result = CliRunner().invoke(cli, ["leaderboard", str(run_dir), "--by", "defense", "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    records = {r.defense.name: r for r in read_records(run_dir)}
    base = records["none"].utility.test_accuracy
    for row in rows:
        assert row["strongest_attack"] == "loss"
        assert row["utility_cost"] == pytest.approx(base - records[row["defense"]].utility.test_accuracy)
    plain = CliRunner().invoke(cli, ["leaderboard", str(run_dir)])
    assert plain.exit_code == 0 and "strongest" not in plain.stdout  # the default view is unchanged
