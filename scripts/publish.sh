#!/usr/bin/env bash
# Re-publish the first-party leaderboards: every installed attack x defense on digits (3 seeds) and
# fashion-mnist (2 seeds) at the cpu budget, submitted to leaderboards/ and the tables rebuilt.
# Resumable: re-running skips finished cells (the runs live in $RUNS, default runs/publish).
# Usage: scripts/publish.sh [extra `privbench run` options, e.g. --device cpu]
set -euo pipefail
cd "$(dirname "$0")/.."
PB=${PRIVBENCH:-.venv/bin/privbench}
RUNS=${RUNS:-runs/publish}
TITLE=${TITLE:-privbench first-party baselines}
export PRIVBENCH_CACHE_DIR=${PRIVBENCH_CACHE_DIR:-$HOME/.cache/privbench}

run() {  # track seeds; exit status 1 (some cells failed, the rest recorded) goes on, 2 and 3 (nothing ran) stop
  nice -n 10 "$PB" run --track "$1" --attacks all --defenses all --budget cpu --seeds "$2" --out "$RUNS/$1" --no-progress "${@:3}" \
    || [ $? -eq 1 ]
}
run digits 3 "$@"
run fashion-mnist 2 "$@"
# --skip-invalid: a cell that failed or ran over budget is reported and left out; the rest is published
"$PB" leaderboard submit "$RUNS/digits" "$RUNS/fashion-mnist" --title "$TITLE" --skip-invalid || true
"$PB" leaderboard build
"$PB" leaderboard build --check
echo "now review and commit leaderboards/ (git add leaderboards && git commit)"
