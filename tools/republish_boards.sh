#!/usr/bin/env bash
# Republish the digits and fashion-mnist cpu boards from one commit on LiRA's pool design (issue 11, point 10).
#
# Every attack x every defense x the committed boards' two seeds, as official runs (split seeds drawn at run time,
# models in a cold private cache under the run folder, attacks in sandboxed workers), then one submission per track
# that supersedes the track-version-1 one. The run id hashes the harness's code: run it from the commit you publish,
# and change nothing under bench/ until it has finished (a change re-runs every cell).
#
# Cost measured on the 2-core CPU (warm models, load 3-4): --attacks all on digits cpu ~3.5 min per defense in
# workers; fashion-mnist ~46 min per defense (16 attacks) plus 17 models per training defense. Run it on a quiet
# machine; the runs resume where they stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/republish-$(git rev-parse --short HEAD)}
declare -A OLD=([digits]=c23788b5444956b0 [fashion-mnist]=cb777579469d3a1c)  # the track-version-1 submissions
for track in digits fashion-mnist; do
  .venv/bin/privbench run --official --track "$track" --budget cpu --attacks all --defenses all --seeds 2 \
    --out "$OUT/$track" --no-progress
  .venv/bin/privbench leaderboard submit "$OUT/$track" --title "privbench first-party baselines" \
    --supersedes "${OLD[$track]}"
done
.venv/bin/privbench leaderboard build
