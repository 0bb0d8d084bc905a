#!/usr/bin/env bash
# Re-publish the first-party cpu boards from COMMIT in parts, on machines that keep nothing between sessions but the
# repository (scripts/publish_parts.py says why, and how the book leaderboards/republish.json keeps our parts). Run
# from main's checkout, one machine at a time; the runs use a worktree of COMMIT with its own environment (the
# README's install line), so main may move on meanwhile: the run id hashes COMMIT's harness.
#
#   scripts/republish_parts.sh COMMIT run      # resume: every defense not yet wholly on the board, both tracks
#   scripts/republish_parts.sh COMMIT submit   # publish the defenses now complete as one part per track, rebuild
#   FIRST=none,dpsgd scripts/republish_parts.sh COMMIT run   # those defenses first (the order changes no number)
#
# Each part runs on a split of its own (a published part shows its split seed): submit refuses while a run still
# writes to the folder, then moves it aside, so the next run draws a fresh split; cells of a defense left half done
# are re-run there, failed ones retried. Until the last part is in, a board shows only the
# defenses republished so far (the first part replaces the old board). Then review and commit leaderboards/.
set -euo pipefail
cd "$(dirname "$0")/.."
usage="usage: scripts/republish_parts.sh COMMIT run|submit"
COMMIT=$(git rev-parse "${1:?$usage}^{commit}")  # the full hash: the book's key (two commits may share a short one)
SHORT=${COMMIT:0:7}
WHAT=${2:?$usage}
MAIN=$(pwd)
WT=$(realpath -m "${WT:-$MAIN/../pub-$SHORT}")
RUNS=$(realpath -m "${RUNS:-$MAIN/../runs/publish-$SHORT}")
ROOT=$(realpath -m "${ROOT:-$MAIN/leaderboards}")
TRACKS=${TRACKS:-digits fashion-mnist}
SLOTS=${SLOTS:-$(nproc)}
SEEDS=2
export TITLE="${TITLE:-privbench first-party baselines}"

[ -d "$WT" ] || git worktree add --detach "$WT" "$COMMIT"
at=$(git -C "$WT" rev-parse HEAD)
[ "$at" = "$COMMIT" ] || { echo "$WT is at ${at:0:12}, not ${COMMIT:0:12}: its records would not be this republish's" >&2; exit 2; }
if [ ! -x "$WT/.venv/bin/privbench" ]; then  # the README's install line, less apt (main's checkout installed that)
  (cd "$WT" && python3 -m venv .venv && .venv/bin/pip install -q torch==2.14.1 torchvision==0.29.1 \
     && .venv/bin/pip install -q -e '.[dev,clip,ner,ssl,diffusion]')
fi
PB="$WT/.venv/bin/privbench"
parts() { (cd "$WT" && .venv/bin/python "$MAIN/scripts/publish_parts.py" "$@"); }

for track in $TRACKS; do
  run="$RUNS/$track"
  if [ "$WHAT" = run ]; then
    done_=$(parts done "$ROOT" "$track" "$COMMIT" "$SEEDS")
    todo=$("$PB" list defenses --json | "$WT/.venv/bin/python" -c "
import json, sys
done, first = set(sys.argv[1].split(',')), sys.argv[2].split(',')
todo = [d['name'] for d in json.load(sys.stdin) if 'classification' in d['tasks'] and d['name'] not in done]
print(','.join(sorted(todo, key=lambda d: first.index(d) if d in first else len(first))))" "$done_" "${FIRST:-}")
    [ -n "$todo" ] || { echo "$track: every defense is on the board from $SHORT"; continue; }
    # exit status 1 (some cells failed, the rest recorded) goes on; 2 and 3 (nothing ran) stop
    (cd "$WT" && nice -n 10 "$PB" run --official --track "$track" --attacks all --defenses "$todo" --budget cpu \
       --seeds "$SEEDS" --slots "$SLOTS" --retry-failed --out "$run" --no-progress) || [ $? -eq 1 ]
  elif [ "$WHAT" = submit ]; then
    [ -f "$run/results.jsonl" ] || { echo "$track: no results in $run"; continue; }
    # a part publishes its split seed: no cell may run on after it, so the run stops first (submit moves its folder)
    if pgrep -f -- "--out $run( |\$)" > /dev/null; then echo "$track: a run still writes to $run: stop it first" >&2; exit 2; fi
    parts submit "$ROOT" "$run" "$COMMIT" "$SEEDS"
  else
    echo "$usage" >&2; exit 2
  fi
done
if [ "$WHAT" = submit ]; then  # the tables are main's: its generator, whatever commit the cells ran on
  "$MAIN/.venv/bin/privbench" leaderboard build --root "$ROOT"
  "$MAIN/.venv/bin/privbench" leaderboard build --check --root "$ROOT"
  echo "now review and commit leaderboards/ (the parts and $(basename "$ROOT")/republish.json)"
fi
