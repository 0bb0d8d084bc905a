#!/usr/bin/env bash
# Re-publish the first-party leaderboards from this commit: every installed attack x defense on digits and
# fashion-mnist at the cpu budget, 2 seeds, as official runs (split seeds drawn at run time, every model trained in a
# cold private cache under the run folder, attacks in sandboxed workers). Each track becomes one submission that
# supersedes the track's current first-party one, then the tables are rebuilt.
#
# The run id hashes the harness's code: run it from the commit you publish and change nothing under bench/ until it
# has finished (a change re-runs every cell). Resumable: re-running skips finished cells ($RUNS, default
# runs/publish-<commit>). Cost on a 2-core CPU, measured on digits (commit d80a7f8): ~2.6 cells a minute on one core
# for most defenses, but memguard's take minutes, label-hsj and LiRA over 20 together (each query to each model is a noise search,
# redone in each cell's worker), so digits takes at least 4 h of one core and fashion-mnist (10x the pool) days.
# On machines that keep nothing between sessions but the repository, publish in parts: scripts/republish_parts.sh.
# Usage: scripts/publish.sh [extra `privbench run` options, e.g. --slots 2: one per core]
set -euo pipefail
cd "$(dirname "$0")/.."
PB=${PRIVBENCH:-.venv/bin/privbench}
PY=${PYTHON:-.venv/bin/python}
RUNS=${RUNS:-runs/publish-$(git rev-parse --short HEAD)}
TITLE=${TITLE:-privbench first-party baselines}
ROOT=${ROOT:-leaderboards}

current() {  # the track's current first-party submission at the cpu tier (scripts/publish_parts.py current): its
  # title, only privbench's plugins, intact, and no later submission supersedes it; read as the tables read
  # submissions, so a file that is none stops here instead of putting its "id" on a command line.
  TITLE="$TITLE" "$PY" scripts/publish_parts.py current "$ROOT" "$1"
}

for track in digits fashion-mnist; do
  # exit status 1 (some cells failed, the rest recorded) goes on; 2 and 3 (nothing ran) stop
  nice -n 10 "$PB" run --official --track "$track" --attacks all --defenses all --budget cpu --seeds 2 \
    --out "$RUNS/$track" --no-progress "$@" || [ $? -eq 1 ]
  supersedes=$(current "$track")  # an assignment: a failure stops the script (inside the submit line it would not)
  # --skip-invalid: a failed or over-budget cell is reported ("refused: ...") and left out, the rest published (exit 1)
  # shellcheck disable=SC2086  # one word per option
  "$PB" leaderboard submit "$RUNS/$track" --root "$ROOT" --title "$TITLE" --skip-invalid $supersedes || [ $? -eq 1 ]
done
"$PB" leaderboard build --root "$ROOT"
"$PB" leaderboard build --check --root "$ROOT"
echo "now review and commit $ROOT/ (git add $ROOT && git commit)"
