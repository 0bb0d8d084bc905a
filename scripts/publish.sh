#!/usr/bin/env bash
# Re-publish the first-party leaderboards from this commit: every installed attack x defense on digits and
# fashion-mnist at the cpu budget, 2 seeds, as official runs (split seeds drawn at run time, every model trained in a
# cold private cache under the run folder, attacks in sandboxed workers). Each track becomes one submission that
# supersedes the track's current first-party one, then the tables are rebuilt.
#
# The run id hashes the harness's code: run it from the commit you publish and change nothing under bench/ until it
# has finished (a change re-runs every cell). Resumable: re-running skips finished cells ($RUNS, default
# runs/publish-<commit>). Cost on a 2-core CPU: digits ~2.5 h of one core, fashion-mnist about a day.
# Usage: scripts/publish.sh [extra `privbench run` options, e.g. --slots 2]
set -euo pipefail
cd "$(dirname "$0")/.."
PB=${PRIVBENCH:-.venv/bin/privbench}
PY=${PYTHON:-.venv/bin/python}
RUNS=${RUNS:-runs/publish-$(git rev-parse --short HEAD)}
TITLE=${TITLE:-privbench first-party baselines}
ROOT=${ROOT:-leaderboards}

current() {  # the track's first-party submission ids at the cpu tier that no later submission supersedes
  "$PY" - "$ROOT/$1/cpu" "$TITLE" <<'EOF'
import json, sys
from pathlib import Path
heads = [json.loads(p.read_text().splitlines()[0]) for p in sorted(Path(sys.argv[1]).glob("*.jsonl"))]
gone = {s for h in heads for s in h.get("supersedes") or ()}
print(" ".join(f"--supersedes {h['submission_id']}" for h in heads if h.get("title") == sys.argv[2] and h["submission_id"] not in gone))
EOF
}

for track in digits fashion-mnist; do
  # exit status 1 (some cells failed, the rest recorded) goes on; 2 and 3 (nothing ran) stop
  nice -n 10 "$PB" run --official --track "$track" --attacks all --defenses all --budget cpu --seeds 2 \
    --out "$RUNS/$track" --no-progress "$@" || [ $? -eq 1 ]
  # shellcheck disable=SC2046  # one word per option
  "$PB" leaderboard submit "$RUNS/$track" --root "$ROOT" --title "$TITLE" $(current "$track")
done
"$PB" leaderboard build --root "$ROOT"
"$PB" leaderboard build --check --root "$ROOT"
echo "now review and commit $ROOT/ (git add $ROOT && git commit)"
