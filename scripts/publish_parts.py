"""Book-keeping of a republish published in parts (``scripts/republish_parts.sh``).

The cpu boards take longer to re-run (fashion-mnist: about 16 hours of one core) than the machines we work on live,
and those keep nothing between sessions but the repository. So one commit's republish is published in parts: each
part is a submission of the cells of the defenses that are complete (every attack of the track's task, every seed,
none failed). Each part runs on a split of its own: a published part's records carry their split seed, readable by
any attack that runs later on the same machine, so cells run after a part of their split was written are not
official; a run folder whose split any submission on disk already shows (booked or not) is refused, and ``submit``
moves the folder aside.

The book, ``ROOT/republish.json`` (committed with the parts), says which submissions are our parts:
``{commit: {track: {"parts": [submission id, ...]}}}``. Only booked parts count: a submission file that merely claims
our title, plugins and commit marks no defense done, and every new part supersedes it (as it supersedes the track's
earlier first-party submission).

    python scripts/publish_parts.py current ROOT TRACK               # --supersedes options: the board's first-party ones
    python scripts/publish_parts.py done ROOT TRACK COMMIT SEEDS     # defenses whose every cell is on the board
    python scripts/publish_parts.py submit ROOT RUN_DIR COMMIT SEEDS  # publish what is complete, book it

COMMIT is the full hash (the book's key; records carry it).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

TITLE = os.environ.get("TITLE", "privbench first-party baselines")
BOOK = "republish.json"


def read_book(root: str | Path) -> dict[str, Any]:
    path = Path(root) / BOOK
    return json.loads(path.read_text()) if path.exists() else {}


def _entry(root: str | Path, track: str, commit: str) -> dict[str, Any]:
    """The book's entry of ``commit`` (its full hash: two commits may share a short one) for ``track``."""
    return read_book(root).get(commit, {}).get(track, {})


def _first_party(root: str | Path, track: str) -> list[Any]:
    """The track's cpu submissions under our title with only privbench's plugins that nothing supersedes (anyone
    can write such a header: the book says which are ours)."""
    from bench._entry import replaced_ids
    from bench._submission import iter_submissions, same_title

    subs = [s for _, s in iter_submissions(root)]
    ours = frozenset(sid for tracks in read_book(root).values() for entry in tracks.values() for sid in entry.get("parts", []))
    try:
        gone = replaced_ids(subs, ours)  # only a booked part replaces a booked part
    except TypeError:  # the worktree's harness predates that rule: a look-alike's supersedes then stops everything
        gone = replaced_ids(subs)
    return [s for s in subs if s.intact and (s.header.track, s.header.tier) == (track, "cpu") and same_title(s.header.title, TITLE)
            and set(s.header.plugins) == {"privbench"} and s.submission_id not in gone]


def booked(root: str | Path, track: str, commit: str) -> dict[tuple[str, str, int], Any]:
    """{(defense, attack, seed): record} of our parts of ``commit`` on the board. A booked part that is
    not on the board as ours (missing, edited, superseded by some file, other cells) stops everything: the board
    and the book disagree, and publishing more would hide it or publish its cells twice."""
    entry = _entry(root, track, commit)
    on_board = {s.submission_id: s for s in _first_party(root, track)}
    cells = {}
    for sid in entry.get("parts", ()):
        sub = on_board.get(sid)
        if sub is None:
            sys.exit(f"{track}: booked part {sid} of {commit[:12]} is not on the board as an intact first-party "
                     f"submission (missing, edited, or superseded by another file): fix {BOOK} or the board first")
        for cell in sub.cells:
            r = cell.record
            if r.provenance.git_commit != commit:
                sys.exit(f"{track}: booked part {sid} holds a cell from commit {r.provenance.git_commit}, the book "
                         f"says {commit}: fix {BOOK}")
            cells[(r.defense.name, r.attack.name, r.seed)] = r
    return cells


def _wanted(task: str, n_seeds: int) -> set[tuple[str, int]]:
    from bench._plugins import load_plugins

    _, registry = load_plugins(())
    attacks = {n for n in registry.names("attacks")
               if task in {str(getattr(t, "value", t)) for t in registry.get("attacks", n).obj.tasks}}
    return {(a, s) for a in attacks for s in range(n_seeds)}


def done(root: str | Path, track: str, commit: str, task: str = "classification", n_seeds: int = 2) -> list[str]:
    """Defenses whose every wanted cell is on the board in a booked part."""
    cells = booked(root, track, commit)
    want = _wanted(task, n_seeds)
    return sorted(d for d in {k[0] for k in cells} if all((d, a, s) in cells for a, s in want))


def _shown_seeds(root: str | Path, track: str) -> set[int]:
    """The split seeds any submission of ``track`` under ``root`` shows, booked or not, superseded or not: a file on
    disk is readable by every cell that runs on the machine, whatever the board makes of it."""
    from bench._submission import iter_submissions

    seeds = {c.record.track.split_seed for _, s in iter_submissions(root) if s.header.track == track for c in s.cells}
    return seeds - {None}  # a run that is not official has no seed of its own to show


def _unfit(rec: dict[str, Any], track: str) -> list[str]:
    """Why a record cannot go into a part of ``track``'s cpu board (empty: it can)."""
    iso = rec.get("isolation") or {}
    checks = (("not official", rec.get("official") is not True or not isinstance(rec["track"].get("split_seed"), int)),
              ("not sandboxed with a private /tmp", iso.get("sandboxed") is not True or iso.get("private_tmp") is not True),
              (f"tier {rec['budget'].get('tier')!r}, not cpu", rec["budget"].get("tier") != "cpu"),
              (f"track {rec['track']['name']!r}, not {track!r}", rec["track"]["name"] != track))
    return [why for why, bad in checks if bad]


def part(root: str | Path, run_dir: Path, commit: str, n_seeds: int) -> list[str]:
    """Write ``run_dir/part.jsonl``: the cells not yet on the board of every defense whose cells are all either on the
    board or in the run and not failed (a failed cell is retried by the next run, never published as done).
    Returns the defenses written."""
    latest: dict[str, dict[str, Any]] = {}
    for line in (run_dir / "results.jsonl").read_text().splitlines():
        if line.strip():
            rec = json.loads(line)
            latest[rec["run_id"]] = rec  # a resumed run appends a cell again: the last line is the cell's
    recs = list(latest.values())
    if not recs:
        return []
    track, task = recs[0]["track"]["name"], recs[0]["track"]["task"]
    if any(r["provenance"].get("git_commit") != commit for r in recs):
        sys.exit(f"{run_dir}: some records were not run from {commit}; a part holds one commit's cells only")
    seeds = {r["track"]["split_seed"] for r in recs}
    on_board = booked(root, track, commit)
    public = seeds & _shown_seeds(root, track)
    if len(seeds) > 1 or public:
        sys.exit(f"{run_dir}: its records ran on split seed(s) {sorted(seeds)}" + (f", which a submission under {root} already "
                 "shows: cells run after it was written ran on a public split" if public else "") + "; publish from a fresh run folder")
    run = {(r["defense"]["name"], r["attack"]["name"], r["seed"]): r for r in recs}
    want = _wanted(task, n_seeds)
    complete = sorted(d for d in {k[0] for k in run} if all(
        (d, a, s) in on_board or ((d, a, s) in run and run[(d, a, s)]["status"] != "failed") for a, s in want))
    keep = {k: r for k, r in run.items() if k[0] in complete and k not in on_board}
    unfit = {f"{k[0]}/{k[1]}/seed{k[2]}": why for k, r in keep.items() if (why := _unfit(r, track))}
    if unfit:  # a board part is official, sandboxed cpu cells of one track, whatever the records' run folder holds
        sys.exit(f"{run_dir}: {len(unfit)} cells cannot be a part: " + "; ".join(f"{c} ({', '.join(w)})" for c, w in list(unfit.items())[:5]))
    if keep:
        (run_dir / "part.jsonl").write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in keep.values()))
    return sorted({k[0] for k in keep})


def submit(root: str | Path, run_dir: Path, commit: str, n_seeds: int) -> int:
    """Publish the run's complete defenses as one part (superseding every unbooked first-party submission of the
    track: the old board, or a file that only claims to be ours) and book it. A defense goes in whole or not at all:
    one refused cell holds its defense back (a row is per submission, so its seeds must share one). Exits non-zero
    only on a problem (with its message): nothing complete yet is none."""
    from bench.publish import submit as submit_results

    wrote = part(root, run_dir, commit, n_seeds)
    path = run_dir / "part.jsonl"
    for _ in range(2):  # refused cells hold their defenses back once; what is left must then go through
        if not wrote:
            print(f"{run_dir}: no defense complete with cells still to publish")
            return 0
        recs = [json.loads(line) for line in path.read_text().splitlines()]
        track = recs[0]["track"]["name"]
        ours = _entry(root, track, commit).get("parts", [])
        others = [s.submission_id for s in _first_party(root, track) if s.submission_id not in ours]
        sub = submit_results([path], root, title=TITLE, supersedes=others)
        if sub.ids:
            break
        for p in sub.problems:
            print(f"refused: {p}")
        cellwise = [p for p in sub.problems if p.where.startswith(f"{path.name}:") and "(" in p.where]  # "part.jsonl:3 (track/defense/attack/seed0)"
        if not cellwise or len(cellwise) < len(sub.problems):  # a refused --supersedes, a bad header: nothing goes out
            sys.exit(f"{run_dir}: nothing was written ({len(sub.problems)} problems above)")
        held = {p.where.split("(", 1)[1].split("/")[1] for p in cellwise}
        print(f"holding back {', '.join(sorted(held))}: a refused cell (re-run it on a fresh machine)")
        recs = [r for r in recs if r["defense"]["name"] not in held]
        path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in recs))
        wrote = sorted({r["defense"]["name"] for r in recs})
    else:
        sys.exit(f"{run_dir}: nothing was written")
    book = read_book(root)
    book.setdefault(commit, {}).setdefault(track, {"parts": []})["parts"] += sub.ids
    (Path(root) / BOOK).write_text(json.dumps(book, indent=1, sort_keys=True) + "\n")
    run_dir.rename(run_dir.with_name(f"{run_dir.name}.published-{sub.ids[0]}"))  # its split is public now: the next run draws another
    print(f"{track}: published {', '.join(wrote)} as {', '.join(sub.ids)}" + (f", superseding {', '.join(others)}" if others else ""))
    return 0


def main(argv: list[str]) -> int:
    what, *args = argv
    if what == "current":  # scripts/publish.sh: a whole republish supersedes the track's current first-party submission
        root, track = args
        print(" ".join(f"--supersedes {s.submission_id}" for s in _first_party(root, track)))
        return 0
    if what == "done":
        root, track, commit, n_seeds = args
        print(",".join(done(root, track, commit, n_seeds=int(n_seeds))))
        return 0
    if what == "submit":
        root, run_dir, commit, n_seeds = args
        return submit(root, Path(run_dir), commit, int(n_seeds))
    sys.exit(f"unknown command {what!r}: current, done or submit")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
