"""scripts/publish_parts.py: the book-keeping that lets one commit's republish be published in parts."""

import importlib.util
import json
from pathlib import Path

import pytest

from bench._submission import Header, write_submission
from bench.testing import make_record

REPO = Path(__file__).resolve().parents[2]
TITLE = "privbench first-party baselines"
COMMIT = "abc1234" + "f" * 33


@pytest.fixture
def parts(monkeypatch):
    spec = importlib.util.spec_from_file_location("publish_parts", REPO / "scripts" / "publish_parts.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setattr(mod, "_wanted", lambda task, n: {(a, s) for a in ("loss", "lira") for s in range(n)})
    return mod


SEALED = {"sandboxed": True, "private_tmp": True, "sandbox": "bwrap", "mode": "process"}


def _cell(defense, attack, seed, *, split_seed=7, commit=COMMIT, status="ok", official=True, isolation=None, tier="cpu"):
    data = make_record(attack, defense, seed, track="digits", tier=tier, status=status, provenance={"git_commit": commit}).to_dict()
    data["track"]["split_seed"] = split_seed
    data["official"] = official
    data["isolation"] = isolation if isolation is not None else SEALED
    return data


def _defense(name, **kw):
    return [_cell(name, a, s, **kw) for a in ("loss", "lira") for s in (0, 1)]


def _submit(root, cells, commit=COMMIT, supersedes=(), plugins=None):
    header = Header("digits", "cpu", TITLE, supersedes=tuple(supersedes), plugins=plugins or {"privbench": "0.1.0"},
                    harness={"git_commit": commit})
    return write_submission(root, header, [{"record": c, "roc": None} for c in cells])[0]


def _book(root, ids, commit=COMMIT):
    (root / "republish.json").write_text(json.dumps({commit: {"digits": {"parts": ids}}}))


def _results(run, cells):
    run.mkdir(exist_ok=True)
    (run / "results.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cells))


def test_only_booked_parts_mark_defenses_done(tmp_path, parts):
    root = tmp_path / "lb"
    old = _submit(root, _defense("none", split_seed=1, commit="0" * 40), "0" * 40)
    _submit(root, _defense("dpsgd", split_seed=42) + _defense("l2", split_seed=42))  # claims our title, plugins, commit
    assert parts.booked(root, "digits", COMMIT) == {} and parts.done(root, "digits", COMMIT) == []
    ours = _submit(root, _defense("advreg") + _defense("dmp")[:3], supersedes=[old])  # dmp: a cell short
    _book(root, [ours])
    assert parts.done(root, "digits", COMMIT) == ["advreg"]  # not the look-alike's dpsgd and l2
    assert parts.booked(root, "digits", "abc1234" + "0" * 33) == {}  # another commit sharing the short hash
    _book(root, [ours], commit="abc1234" + "0" * 33)
    with pytest.raises(SystemExit, match="holds a cell from commit abc1234f"):
        parts.done(root, "digits", "abc1234" + "0" * 33)


def test_a_booked_part_the_board_does_not_show_as_ours_stops_everything(tmp_path, parts):
    root = tmp_path / "lb"
    ours = _submit(root, _defense("advreg"))
    _book(root, [ours, "0123456789abcdef"])  # booked, never committed
    with pytest.raises(SystemExit, match="booked part 0123456789abcdef .* is not on the board"):
        parts.done(root, "digits", COMMIT)
    _book(root, [ours])
    before = parts.done(root, "digits", COMMIT)
    assert before == ["advreg"]
    _submit(root, _defense("l2"), supersedes=[ours])  # a look-alike listing our part: only a booked part replaces one
    assert parts.done(root, "digits", COMMIT) == before


def test_a_part_holds_what_is_complete_not_failed_and_not_yet_on_the_board(tmp_path, parts):
    root, run = tmp_path / "lb", tmp_path / "run"
    _book(root, [_submit(root, _defense("advreg") + _defense("dmp")[:3])])  # split 7
    cells = _defense("advreg", split_seed=8) + _defense("dmp", split_seed=8) + _defense("l2", split_seed=8)[:3] + _defense("augment", split_seed=8)
    cells[-1] = {**cells[-1], "status": "failed", "metrics": {}}  # augment: a failed cell, retried next session
    _results(run, cells)
    assert parts.part(root, run, COMMIT, 2) == ["dmp"]  # advreg: all on the board already; l2: a cell missing
    written = [json.loads(line) for line in (run / "part.jsonl").read_text().splitlines()]
    assert [(r["defense"]["name"], r["attack"]["name"], r["seed"]) for r in written] == [("dmp", "lira", 1)]
    _results(run, cells + [_cell("dmp", "loss", 0, split_seed=9)])
    with pytest.raises(SystemExit, match=r"split seed\(s\) \[8, 9\]"):
        parts.part(root, run, COMMIT, 2)
    # a run that went on after a part of its own split was written: its later cells ran on a public split
    _results(run, _defense("dmp") + _defense("l2"))
    with pytest.raises(SystemExit, match="which a submission under .* already shows"):
        parts.part(root, run, COMMIT, 2)
    # nor on a split that an unbooked file shows (a part taken out of the book stays on disk until superseded)
    _submit(root, _defense("rounding", split_seed=8))
    _results(run, _defense("l2", split_seed=8))
    with pytest.raises(SystemExit, match=r"split seed\(s\) \[8\], which a submission"):
        parts.part(root, run, COMMIT, 2)
    _results(run, cells + [_cell("dmp", "loss", 0, split_seed=8, commit="0" * 40)])
    with pytest.raises(SystemExit, match="not run from abc1234"):
        parts.part(root, run, COMMIT, 2)


class _Sub:
    def __init__(self, ids=(), problems=()):
        self.ids, self.problems = list(ids), list(problems)


def _writes(results, root, **kw):
    """bench.publish.submit as far as the book sees it: the part's cells written as one submission."""
    cells = [json.loads(line) for line in Path(results[0]).read_text().splitlines()]
    return _Sub([_submit(root, cells, supersedes=kw.get("supersedes", ()))])


def test_submit_books_the_part_and_supersedes_every_unbooked_first_party_file(tmp_path, parts, monkeypatch):
    import bench.publish

    root, run = tmp_path / "lb", tmp_path / "run"
    old = _submit(root, _defense("none", split_seed=1, commit="0" * 40), "0" * 40)
    forged = _submit(root, _defense("dpsgd", split_seed=42))
    theirs = _submit(root, _defense("l2", split_seed=3), plugins={"privbench": "0.1.0", "evil-mia": "1"})
    calls = []
    monkeypatch.setattr(bench.publish, "submit", lambda results, root, **kw: calls.append((results, kw)) or _writes(results, root, **kw))
    _results(run, _defense("advreg"))
    assert parts.submit(root, run, COMMIT, 2) == 0
    (results, kw), = calls
    assert results == [run / "part.jsonl"] and not kw.get("skip_invalid") and kw["title"] == TITLE
    assert not run.exists() and len(list(tmp_path.glob("run.published-*"))) == 1  # the next run draws a fresh split
    assert sorted(kw["supersedes"]) == sorted([old, forged]) and theirs not in kw["supersedes"]  # another submitter's stays
    (sid,) = parts.read_book(root)[COMMIT]["digits"]["parts"]
    assert parts.read_book(root) == {COMMIT: {"digits": {"parts": [sid]}}} and parts.done(root, "digits", COMMIT) == ["advreg"]
    calls.clear()
    _results(run, _defense("l2", split_seed=8)[:3])
    assert parts.submit(root, run, COMMIT, 2) == 0 and calls == []  # nothing complete: nothing submitted, no error


def test_a_refused_cell_holds_its_whole_defense_back_and_a_refused_supersede_writes_nothing(tmp_path, parts, monkeypatch):
    import bench.publish
    from bench.publish import Problem

    root, run = tmp_path / "lb", tmp_path / "run"
    _results(run, _defense("advreg") + _defense("dmp"))
    sent = []

    def submit(results, root, **kw):
        cells = [json.loads(line) for line in Path(results[0]).read_text().splitlines()]
        sent.append(sorted({c["defense"]["name"] for c in cells}))
        bad = [Problem(f"part.jsonl:{i} (digits/dmp/loss/seed1)", "metric auc differs") for i, c in enumerate(cells, 1)
               if (c["defense"]["name"], c["attack"]["name"], c["seed"]) == ("dmp", "loss", 1)]
        return _Sub(problems=bad) if bad else _writes(results, root, **kw)

    monkeypatch.setattr(bench.publish, "submit", submit)
    assert parts.submit(root, run, COMMIT, 2) == 0
    assert sent == [["advreg", "dmp"], ["advreg"]]  # dmp's other three cells wait with it: one row per submission
    assert parts.done(root, "digits", COMMIT) == ["advreg"]
    _results(run, _defense("dmp", split_seed=8))  # a fresh run folder, a fresh split
    monkeypatch.setattr(bench.publish, "submit", lambda results, root, **kw: _Sub(problems=[Problem("--supersedes", "not ours")]))
    with pytest.raises(SystemExit, match="nothing was written"):
        parts.submit(root, run, COMMIT, 2)
    assert (run / "results.jsonl").exists()  # nothing published: the folder stays


@pytest.mark.parametrize("unfit", [dict(split_seed=None, official=False),
                                   dict(isolation={"sandboxed": False, "sandbox": "none", "mode": "process"}),
                                   dict(isolation={**SEALED, "private_tmp": False}),
                                   dict(tier="smoke")])
def test_a_part_is_official_sealed_cpu_cells_only(tmp_path, parts, unfit):
    """The run folder's records are all part() reads: a run on the public split, one whose worker ran unsandboxed or
    without a private /tmp, or a smoke-tier run in the folder would have been published and marked its defense done
    (review of 46ca9ad)."""
    root, run = tmp_path / "lb", tmp_path / "run"
    _results(run, _defense("dpsgd", **unfit))
    with pytest.raises(SystemExit, match="cannot be a part"):
        parts.part(root, run, COMMIT, 2)
    assert not (run / "part.jsonl").exists()
    _results(run, _defense("dpsgd"))
    assert parts.part(root, run, COMMIT, 2) == ["dpsgd"]


@pytest.mark.parametrize("look_alike", [TITLE.replace(" ", "  ", 1), TITLE.upper(),
                                       TITLE.replace("a", "\u0430"), TITLE.replace("i", "\u0456").replace("p", "\u0440"),
                                       # re-attack: other dashes, dotless i, Latin alpha, variation selectors, blank letters
                                       TITLE.replace("-", "\u2011"), TITLE.replace("-", "\u2212"), TITLE.replace("i", "\u0131"),
                                       TITLE.replace("a", "\u0251"), TITLE.replace("y", "y\ufe0f"), TITLE.replace(" ", " \u3164", 1), TITLE + "\u2800"])
def test_a_title_that_reads_like_ours_is_superseded_like_an_exact_copy(tmp_path, parts, look_alike):
    """The boards print a title with its whitespace collapsed: a double space reads as ours, so a part must supersede
    it too (it compared titles exactly). So do Cyrillic/Greek look-alikes of its letters (adversarial review:
    "first-p\u0430rty" with a Cyrillic a). Characters that print nothing are refused outright (next test)."""
    root = tmp_path / "lb"
    header = Header("digits", "cpu", look_alike, plugins={"privbench": "0.1.0"}, harness={"git_commit": COMMIT})
    sid = write_submission(root, header, [{"record": c, "roc": None} for c in _defense("dpsgd", split_seed=42)])[0]
    assert sid in {s.submission_id for s in parts._first_party(root, "digits")}
    assert Header("digits", "cpu", TITLE, plugins={"privbench": "0.1.0"}).may_supersede(header)
    assert not Header("digits", "cpu", TITLE + " 2", plugins={"privbench": "0.1.0"}).may_supersede(header)
