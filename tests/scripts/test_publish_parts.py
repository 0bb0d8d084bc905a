"""scripts/publish_parts.py: the book-keeping that lets one commit's republish be published in parts."""

import importlib.util
import json
from pathlib import Path

import pytest

from bench._submission import Header, write_submission
from bench.testing import make_record

REPO = Path(__file__).resolve().parents[2]
TITLE = "privbench first-party baselines"
COMMIT = "abc1234ff"


@pytest.fixture
def parts(monkeypatch):
    spec = importlib.util.spec_from_file_location("publish_parts", REPO / "scripts" / "publish_parts.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setattr(mod, "_wanted", lambda task, n: {(a, s) for a in ("loss", "lira") for s in range(n)})
    return mod


def _cell(defense, attack, seed, *, split_seed=7, commit=COMMIT, status="ok"):
    data = make_record(attack, defense, seed, track="digits", status=status, provenance={"git_commit": commit}).to_dict()
    data["track"]["split_seed"] = split_seed
    return data


def _defense(name, **kw):
    return [_cell(name, a, s, **kw) for a in ("loss", "lira") for s in (0, 1)]


def _submit(root, cells, commit=COMMIT, supersedes=(), plugins=None):
    header = Header("digits", "cpu", TITLE, supersedes=tuple(supersedes), plugins=plugins or {"privbench": "0.1.0"},
                    harness={"git_commit": commit})
    return write_submission(root, header, [{"record": c, "roc": None} for c in cells])[0]


def _book(root, ids, seed=7):
    (root / "republish.json").write_text(json.dumps({"abc1234": {"digits": {"split_seed": seed, "parts": ids}}}))


def test_only_booked_parts_give_the_split_seed_and_the_defenses_done(tmp_path, parts):
    root = tmp_path / "lb"
    old = _submit(root, _defense("none", split_seed=1, commit="0ld0ld0"), "0ld0ld0")
    forged = _submit(root, _defense("dpsgd", split_seed=42) + _defense("l2", split_seed=42))  # our title, plugins, commit
    assert parts.booked(root, "digits", "abc1234")[0] is None and parts.done(root, "digits", "abc1234") == []
    ours = _submit(root, _defense("advreg") + _defense("dmp")[:3], supersedes=[old])  # dmp: a cell short
    _book(root, [ours])
    assert parts.booked(root, "digits", "abc1234")[0] == 7  # not the forged file's 42
    assert parts.done(root, "digits", "abc1234") == ["advreg"]
    _book(root, [ours], seed=8)
    with pytest.raises(SystemExit, match="ran on split seed 7, the book says 8"):
        parts.done(root, "digits", "abc1234")
    assert forged not in (old, ours)


def test_a_part_holds_what_is_complete_not_failed_and_not_yet_on_the_board(tmp_path, parts):
    root, run = tmp_path / "lb", tmp_path / "run"
    run.mkdir()
    _book(root, [_submit(root, _defense("advreg") + _defense("dmp")[:3])])
    cells = _defense("advreg") + _defense("dmp") + _defense("l2")[:3] + _defense("augment")
    cells[-1] = {**cells[-1], "status": "failed", "metrics": {}}  # augment: a failed cell, retried next session
    (run / "results.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cells))
    assert parts.part(root, run, "abc1234", 2) == (["advreg", "dmp"], 7)  # l2: a cell missing
    written = [json.loads(line) for line in (run / "part.jsonl").read_text().splitlines()]
    assert [(r["defense"]["name"], r["attack"]["name"], r["seed"]) for r in written] == [("dmp", "lira", 1)]  # the rest is on the board
    (run / "results.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cells + [_cell("dmp", "loss", 0, split_seed=9)]))
    with pytest.raises(SystemExit, match=r"split seed\(s\) \[7, 9\]"):
        parts.part(root, run, "abc1234", 2)
    (run / "results.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cells + [_cell("dmp", "loss", 0, commit="0ther00")]))
    with pytest.raises(SystemExit, match="not run from abc1234"):
        parts.part(root, run, "abc1234", 2)


def test_submit_books_the_part_and_supersedes_every_unbooked_first_party_file(tmp_path, parts, monkeypatch):
    import bench.publish

    root, run = tmp_path / "lb", tmp_path / "run"
    run.mkdir()
    old = _submit(root, _defense("none", split_seed=1, commit="0ld0ld0"), "0ld0ld0")
    forged = _submit(root, _defense("dpsgd", split_seed=42))
    theirs = _submit(root, _defense("l2", split_seed=3), plugins={"privbench": "0.1.0", "evil-mia": "1"})
    calls = []

    class Sub:
        problems, ids = [], ["new0000000000001"]

    monkeypatch.setattr(bench.publish, "submit", lambda results, root, **kw: calls.append((results, kw)) or Sub)
    (run / "results.jsonl").write_text("".join(json.dumps(c) + "\n" for c in _defense("advreg")))
    assert parts.submit(root, run, "abc1234", 2) == 0
    (results, kw), = calls
    assert results == [run / "part.jsonl"] and kw["skip_invalid"] and kw["title"] == TITLE
    assert sorted(kw["supersedes"]) == sorted([old, forged]) and theirs not in kw["supersedes"]  # another submitter's stays
    assert parts.read_book(root) == {"abc1234": {"digits": {"split_seed": 7, "parts": ["new0000000000001"]}}}
    calls.clear()
    (run / "results.jsonl").write_text("".join(json.dumps(c) + "\n" for c in _defense("l2")[:3]))
    assert parts.submit(root, run, "abc1234", 2) == 0 and calls == []  # nothing complete: nothing submitted, no error
