"""Book-keeping of a republish published in parts (``scripts/republish_parts.sh``).

The cpu boards take longer to re-run (fashion-mnist: about 28 hours of one core) than the machines we work on live,
and those keep nothing between sessions but the repository. So one commit's republish is published in parts: each
part is a submission of the defenses whose cells are all in (every attack of the track's task, every seed), and a
later session resumes on the split the first part drew (each record carries its split seed). Every part comes from
the same commit; only the first replaces the track's earlier first-party submission.

    python scripts/publish_parts.py seed ROOT TRACK COMMIT     # split seed of COMMIT's published parts ('' if none)
    python scripts/publish_parts.py done ROOT TRACK COMMIT     # defenses already published from COMMIT, comma-separated
    python scripts/publish_parts.py older ROOT TRACK COMMIT    # --supersedes options: first-party submissions of other commits
    python scripts/publish_parts.py part RUN_DIR COMMIT SEEDS  # write RUN_DIR/part.jsonl: complete, unpublished defenses

``part`` reads ``ROOT`` from the environment variable ``ROOT`` (default ``leaderboards``) and prints the defenses it
wrote (nothing: no defense is complete yet, and no file is written).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

TITLE = os.environ.get("TITLE", "privbench first-party baselines")


def _first_party(root: str, track: str) -> list:
    """The track's cpu submissions under our title with only privbench's plugins that nothing supersedes."""
    from bench._entry import replaced_ids
    from bench._submission import iter_submissions

    subs = [s for _, s in iter_submissions(root)]
    gone = replaced_ids(subs)
    return [s for s in subs if s.intact and (s.header.track, s.header.tier) == (track, "cpu") and s.header.title == TITLE
            and set(s.header.plugins) == {"privbench"} and s.submission_id not in gone]


def _of_commit(sub, commit: str) -> bool:
    return str(sub.header.harness.get("git_commit") or "").startswith(commit)


def published(root: str, track: str, commit: str) -> tuple[int | None, set[str]]:
    """(split seed, defenses) of ``commit``'s parts on the board; refuses parts that disagree on the split seed."""
    seeds, defenses = set(), set()
    for sub in _first_party(root, track):
        if _of_commit(sub, commit):
            for cell in sub.cells:
                seeds.add(cell.record.track.split_seed)
                defenses.add(cell.record.defense.name)
    if len(seeds) > 1:
        sys.exit(f"{track}: the parts of {commit} on the board use {len(seeds)} split seeds; they must share one")
    return (seeds.pop() if seeds else None), defenses


def _expected_attacks(task: str) -> set[str]:
    from bench._plugins import load_plugins

    _, registry = load_plugins(())
    return {n for n in registry.names("attacks") if task in {str(getattr(t, "value", t)) for t in registry.get("attacks", n).obj.tasks}}


def part(run_dir: Path, commit: str, n_seeds: int) -> list[str]:
    """Write ``run_dir/part.jsonl`` with the latest record of each cell of every complete, unpublished defense."""
    latest: dict[str, dict] = {}
    for line in (run_dir / "results.jsonl").read_text().splitlines():
        if line.strip():
            rec = json.loads(line)
            latest[rec["run_id"]] = rec
    if not latest:
        return []
    recs = list(latest.values())
    track, task = recs[0]["track"]["name"], recs[0]["track"]["task"]
    if any(not str(r["provenance"].get("git_commit") or "").startswith(commit) for r in recs):
        sys.exit(f"{run_dir}: some records were not run from {commit}; a part holds one commit's cells only")
    _, done = published(os.environ.get("ROOT", "leaderboards"), track, commit)
    want = {(a, s) for a in _expected_attacks(task) for s in range(n_seeds)}
    have: dict[str, set] = {}
    for r in recs:
        have.setdefault(r["defense"]["name"], set()).add((r["attack"]["name"], r["seed"]))
    complete = sorted(d for d, cells in have.items() if want <= cells and d not in done)
    keep = [json.dumps(r, sort_keys=True) for r in recs if r["defense"]["name"] in complete]
    if complete:
        (run_dir / "part.jsonl").write_text("\n".join(keep) + "\n")
    return complete


def main(argv: list[str]) -> None:
    what, *args = argv
    if what in ("seed", "done", "older"):
        root, track, commit = args
        seed, defenses = published(root, track, commit)
        out = {"seed": "" if seed is None else str(seed), "done": ",".join(sorted(defenses)),
               "older": " ".join(f"--supersedes {s.submission_id}" for s in _first_party(root, track) if not _of_commit(s, commit))}
        print(out[what])
    elif what == "part":
        run_dir, commit, n_seeds = args
        print(",".join(part(Path(run_dir), commit, int(n_seeds))))
    else:
        sys.exit(f"unknown command {what!r}: seed, done, older or part")


if __name__ == "__main__":
    main(sys.argv[1:])
