"""scripts/publish_parts.py: the book-keeping that lets one commit's republish be published in parts."""

import importlib.util
import json
from pathlib import Path

import pytest

from bench._submission import Header, write_submission
from bench.testing import make_record

REPO = Path(__file__).resolve().parents[2]
TITLE = "privbench first-party baselines"


@pytest.fixture
def parts(monkeypatch):
    spec = importlib.util.spec_from_file_location("publish_parts", REPO / "scripts" / "publish_parts.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setattr(mod, "_expected_attacks", lambda task: {"loss", "lira"})
    return mod


def _cell(defense, attack, seed, *, split_seed=7, commit="abc1234ff"):
    data = make_record(attack, defense, seed, track="digits", provenance={"git_commit": commit}).to_dict()
    data["track"]["split_seed"] = split_seed
    return data


def _submit(root, cells, commit, supersedes=()):
    header = Header("digits", "cpu", TITLE, supersedes=tuple(supersedes), plugins={"privbench": "0.1.0"}, harness={"git_commit": commit})
    return write_submission(root, header, [{"record": c, "roc": None} for c in cells])[0]


def test_published_parts_give_the_split_seed_the_defenses_and_what_the_first_part_replaces(tmp_path, parts):
    root = tmp_path / "lb"
    old = _submit(root, [_cell("none", "loss", 0, split_seed=1, commit="0ld0ld0")], "0ld0ld0")
    assert parts.published(str(root), "digits", "abc1234") == (None, set())  # nothing of ours yet: a fresh split
    first = _submit(root, [_cell("advreg", a, s) for a in ("loss", "lira") for s in (0, 1)], "abc1234ff", supersedes=[old])
    assert parts.published(str(root), "digits", "abc1234") == (7, {"advreg"})
    _submit(root, [_cell("l2", "loss", 0, split_seed=8)], "abc1234ff")
    with pytest.raises(SystemExit, match="2 split seeds"):  # parts on two splits are not one board
        parts.published(str(root), "digits", "abc1234")
    assert first != old


def test_a_part_holds_the_complete_unpublished_defenses_of_its_commit_only(tmp_path, parts, monkeypatch):
    root, run = tmp_path / "lb", tmp_path / "run"
    run.mkdir()
    monkeypatch.setenv("ROOT", str(root))
    _submit(root, [_cell("advreg", a, s) for a in ("loss", "lira") for s in (0, 1)], "abc1234ff")
    cells = [_cell(d, a, s) for d in ("advreg", "dmp", "l2") for a in ("loss", "lira") for s in (0, 1)]
    cells = [c for c in cells if not (c["defense"]["name"] == "l2" and c["seed"] == 1 and c["attack"]["name"] == "lira")]
    (run / "results.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cells))
    assert parts.part(run, "abc1234", 2) == ["dmp"]  # advreg: published already; l2: a cell missing
    written = [json.loads(line) for line in (run / "part.jsonl").read_text().splitlines()]
    assert sorted((r["attack"]["name"], r["seed"]) for r in written) == [("lira", 0), ("lira", 1), ("loss", 0), ("loss", 1)]
    assert {r["defense"]["name"] for r in written} == {"dmp"}
    (run / "results.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cells + [_cell("dmp", "loss", 0, commit="0ther00")]))
    with pytest.raises(SystemExit, match="not run from abc1234"):
        parts.part(run, "abc1234", 2)
