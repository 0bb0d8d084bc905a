#!/usr/bin/env bash
# Re-publish the first-party cpu boards from COMMIT in parts, on machines that keep nothing between sessions but the
# repository (scripts/publish_parts.py says why). Run from main's checkout; the runs use a worktree of COMMIT with its
# own environment (the README's install line), so main may move on meanwhile: the run id hashes COMMIT's harness.
#
#   scripts/republish_parts.sh COMMIT run      # resume: every defense not yet published from COMMIT, both tracks
#   scripts/republish_parts.sh COMMIT submit   # publish the defenses now complete as one part per track, rebuild
#
# A fresh machine resumes on the split seed the published parts carry; cells of a defense left half done by an
# earlier session are re-run (their scores were not kept). Then review and commit leaderboards/.
set -euo pipefail
cd "$(dirname "$0")/.."
COMMIT=${1:?usage: scripts/republish_parts.sh COMMIT run|submit}
WHAT=${2:?usage: scripts/republish_parts.sh COMMIT run|submit}
COMMIT=$(git rev-parse --short "$COMMIT")
MAIN=$(pwd)
WT=${WT:-$MAIN/../pub-$COMMIT}
RUNS=${RUNS:-$MAIN/../runs/publish-$COMMIT}
ROOT=${ROOT:-$MAIN/leaderboards}
TRACKS=${TRACKS:-digits fashion-mnist}
SEEDS=2
export ROOT TITLE="${TITLE:-privbench first-party baselines}"

if [ ! -d "$WT" ]; then
  git worktree add --detach "$WT" "$COMMIT"
fi
if [ ! -x "$WT/.venv/bin/privbench" ]; then  # the README's install line, less apt (main's checkout installed that)
  (cd "$WT" && python3 -m venv .venv && .venv/bin/pip install -q torch==2.14.1 torchvision==0.29.1 \
     && .venv/bin/pip install -q -e '.[dev,clip,ner,ssl,diffusion]')
fi
PB="$WT/.venv/bin/privbench"
parts() { (cd "$WT" && .venv/bin/python "$MAIN/scripts/publish_parts.py" "$@"); }

for track in $TRACKS; do
  run="$RUNS/$track"
  seed=$(parts seed "$ROOT" "$track" "$COMMIT")
  if [ -n "$seed" ] && [ ! -e "$run/.official/split_seed.json" ]; then  # resume on the parts' split
    mkdir -p -m 700 "$run/.official"
    (umask 077 && printf '{"split_seed": %s}\n' "$seed" > "$run/.official/split_seed.json")
  fi
  if [ "$WHAT" = run ]; then
    done_=$(parts done "$ROOT" "$track" "$COMMIT")
    todo=$("$PB" list defenses --json | "$WT/.venv/bin/python" -c "
import json, sys
done = set(sys.argv[1].split(','))
print(','.join(d['name'] for d in json.load(sys.stdin) if 'classification' in d['tasks'] and d['name'] not in done))" "$done_")
    [ -n "$todo" ] || { echo "$track: every defense is published from $COMMIT"; continue; }
    # exit status 1 (some cells failed, the rest recorded) goes on; 2 and 3 (nothing ran) stop
    (cd "$WT" && nice -n 10 "$PB" run --official --track "$track" --attacks all --defenses "$todo" --budget cpu \
       --seeds "$SEEDS" --out "$run" --no-progress) || [ $? -eq 1 ]
  elif [ "$WHAT" = submit ]; then
    [ -f "$run/results.jsonl" ] || { echo "$track: no results in $run"; continue; }
    wrote=$(parts part "$run" "$COMMIT" "$SEEDS")
    [ -n "$wrote" ] || { echo "$track: no defense complete and unpublished"; continue; }
    older=$(parts older "$ROOT" "$track" "$COMMIT")  # an assignment: a failure stops the script
    echo "$track: publishing $wrote"
    # shellcheck disable=SC2086  # one word per option
    (cd "$WT" && "$PB" leaderboard submit "$run/part.jsonl" --root "$ROOT" --title "$TITLE" --skip-invalid $older) || [ $? -eq 1 ]
  fi
done
if [ "$WHAT" = submit ]; then
  # the tables are main's: its generator, whatever commit the cells ran on
  "$MAIN/.venv/bin/privbench" leaderboard build --root "$ROOT" && "$MAIN/.venv/bin/privbench" leaderboard build --check --root "$ROOT"
  echo "now review and commit leaderboards/"
fi
