"""Book-keeping of a republish published in parts (``scripts/republish_parts.sh``).

The cpu boards take longer to re-run (fashion-mnist: about 28 hours of one core) than the machines we work on live,
and those keep nothing between sessions but the repository. So one commit's republish is published in parts: each
part is a submission of the cells of the defenses that are complete (every attack of the track's task, every seed,
none failed), and a later session resumes on the split the first part drew.

The book, ``ROOT/republish.json`` (committed with the parts), says which submissions are our parts and on which split
seed they ran: ``{commit: {track: {"split_seed": int, "parts": [submission id, ...]}}}``. Only booked parts count: a
submission file that merely claims our title, plugins and commit neither picks the split nor marks a defense done,
and every new part supersedes it (as it supersedes the track's earlier first-party submission).

    python scripts/publish_parts.py seed ROOT TRACK COMMIT          # the booked split seed ('' if none yet)
    python scripts/publish_parts.py done ROOT TRACK COMMIT          # defenses whose every cell is on the board
    python scripts/publish_parts.py submit ROOT RUN_DIR COMMIT SEEDS  # publish what is complete, book it
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
    return next((v.get(track, {}) for k, v in read_book(root).items() if k.startswith(commit) or commit.startswith(k)), {})


def _first_party(root: str | Path, track: str) -> list[Any]:
    """The track's cpu submissions under our title with only privbench's plugins that nothing supersedes (anyone
    can write such a header: the book says which are ours)."""
    from bench._entry import replaced_ids
    from bench._submission import iter_submissions

    subs = [s for _, s in iter_submissions(root)]
    gone = replaced_ids(subs)
    return [s for s in subs if (s.header.track, s.header.tier) == (track, "cpu") and s.header.title == TITLE
            and set(s.header.plugins) == {"privbench"} and s.submission_id not in gone]


def booked(root: str | Path, track: str, commit: str) -> tuple[int | None, dict[tuple[str, str, int], Any]]:
    """(split seed, {(defense, attack, seed): record}) of our parts of ``commit`` on the board."""
    entry = _entry(root, track, commit)
    ours, cells = set(entry.get("parts", ())), {}
    for sub in _first_party(root, track):
        if sub.submission_id in ours and sub.intact:
            for cell in sub.cells:
                r = cell.record
                if r.track.split_seed != entry.get("split_seed"):
                    sys.exit(f"{track}: booked part {sub.submission_id} ran on split seed {r.track.split_seed}, the book "
                             f"says {entry.get('split_seed')}; fix {BOOK} before publishing more")
                cells[(r.defense.name, r.attack.name, r.seed)] = r
    return entry.get("split_seed"), cells


def _wanted(task: str, n_seeds: int) -> set[tuple[str, int]]:
    from bench._plugins import load_plugins

    _, registry = load_plugins(())
    attacks = {n for n in registry.names("attacks")
               if task in {str(getattr(t, "value", t)) for t in registry.get("attacks", n).obj.tasks}}
    return {(a, s) for a in attacks for s in range(n_seeds)}


def done(root: str | Path, track: str, commit: str, task: str = "classification", n_seeds: int = 2) -> list[str]:
    """Defenses whose every wanted cell is on the board in a booked part."""
    _, cells = booked(root, track, commit)
    want = _wanted(task, n_seeds)
    return sorted(d for d in {k[0] for k in cells} if all((d, a, s) in cells for a, s in want))


def part(root: str | Path, run_dir: Path, commit: str, n_seeds: int) -> tuple[list[str], int | None]:
    """Write ``run_dir/part.jsonl``: the cells not yet on the board of every defense whose cells are all either on the
    board or in the run and not failed (a failed cell is retried by the next run, never published as done).
    Returns (the defenses written, the run's split seed)."""
    latest: dict[str, dict[str, Any]] = {}
    for line in (run_dir / "results.jsonl").read_text().splitlines():
        if line.strip():
            rec = json.loads(line)
            latest[rec["run_id"]] = rec  # a resumed run appends a cell again: the last line is the cell's
    recs = list(latest.values())
    if not recs:
        return [], None
    track, task = recs[0]["track"]["name"], recs[0]["track"]["task"]
    if any(not str(r["provenance"].get("git_commit") or "").startswith(commit) for r in recs):
        sys.exit(f"{run_dir}: some records were not run from {commit}; a part holds one commit's cells only")
    seeds = {r["track"]["split_seed"] for r in recs}
    book_seed, on_board = booked(root, track, commit)
    if len(seeds) > 1 or (book_seed is not None and seeds != {book_seed}):
        sys.exit(f"{run_dir}: its records ran on split seed(s) {sorted(seeds)}, the booked parts on {book_seed}: "
                 f"one board is one split (restore {run_dir}/.official/split_seed.json from the book)")
    run = {(r["defense"]["name"], r["attack"]["name"], r["seed"]): r for r in recs}
    want = _wanted(task, n_seeds)
    complete = sorted(d for d in {k[0] for k in run} if all(
        (d, a, s) in on_board or ((d, a, s) in run and run[(d, a, s)]["status"] != "failed") for a, s in want))
    keep = [json.dumps(r, sort_keys=True) for k, r in run.items() if k[0] in complete and k not in on_board]
    if keep:
        (run_dir / "part.jsonl").write_text("\n".join(keep) + "\n")
    return (complete if keep else []), seeds.pop()


def submit(root: str | Path, run_dir: Path, commit: str, n_seeds: int) -> int:
    """Publish the run's complete defenses as one part (superseding every unbooked first-party submission of the
    track: the old board, or a file that only claims to be ours) and book it. Exits non-zero only on a problem
    (with its message): nothing complete yet is none."""
    from bench.publish import submit as submit_results

    wrote, seed = part(root, run_dir, commit, n_seeds)
    if not wrote:
        print(f"{run_dir}: no defense complete with cells still to publish")
        return 0
    track = json.loads((run_dir / "part.jsonl").read_text().splitlines()[0])["track"]["name"]
    entry = _entry(root, track, commit)
    others = [s.submission_id for s in _first_party(root, track) if s.submission_id not in entry.get("parts", ())]
    sub = submit_results([run_dir / "part.jsonl"], root, title=TITLE, supersedes=others, skip_invalid=True)
    for p in sub.problems:
        print(f"refused: {p}")
    if not sub.ids:
        sys.exit(f"{run_dir}: nothing was written ({len(sub.problems)} problems above)")
    book = read_book(root)
    key = next((k for k in book if k.startswith(commit) or commit.startswith(k)), commit)
    mine = book.setdefault(key, {}).setdefault(track, {"split_seed": seed, "parts": []})
    mine["parts"] += sub.ids
    (Path(root) / BOOK).write_text(json.dumps(book, indent=1, sort_keys=True) + "\n")
    print(f"{track}: published {', '.join(wrote)} as {', '.join(sub.ids)}" + (f", superseding {', '.join(others)}" if others else ""))
    return 0


def main(argv: list[str]) -> int:
    what, *args = argv
    if what in ("seed", "done"):
        root, track, commit = args
        seed = booked(root, track, commit)[0]
        print(("" if seed is None else seed) if what == "seed" else ",".join(done(root, track, commit)))
        return 0
    if what == "submit":
        root, run_dir, commit, n_seeds = args
        return submit(root, Path(run_dir), commit, int(n_seeds))
    sys.exit(f"unknown command {what!r}: seed, done or submit")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
