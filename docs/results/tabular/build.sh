#!/usr/bin/env bash
# Trains every candidate of the quickstart space (widths 16,32,64; core bits 2..4; input bits 4..8; output bits 8:
# 45 candidates) with 10 seeds, and the FP32 baseline with 10 seeds, on each env: the trainings a tabular benchmark
# replays (dse tabulate: a random-strategy study at a budget of the whole space, early stopping off, on the study's
# own machinery: Ray, the policy cache, checkpoints, resume). Run this again after a stop and it goes on where it
# stopped; with --dry-run it prints what is left. The tables go to docs/results/tabular/<env>.json.gz.
# Fidelity: 16,000 env steps per training on both envs, where the multi-fidelity benchmark found returns that
# separate the candidates (InvertedPendulum-v4 near 16,200; Pendulum-v1 separates from 5,400 on); a point of the
# learning curve every 1,000 steps (5 episodes, float forward), the final return of the deployed integer network
# over 50 episodes. Planned at about 8.6 hours of the 2-core machine for both (dse run --dry-run).
set -euo pipefail
cd "$(dirname "$0")/../../.."
OUT=${OUT:-runs/tabular}
ENVS=${ENVS:-"InvertedPendulum-v4 Pendulum-v1"}
STEPS=${STEPS:-16000}
for env in $ENVS; do
    name=$(echo "${env%-v*}" | tr '[:upper:]' '[:lower:]')
    .venv/bin/dse tabulate --env "$env" --seeds 10 --steps "$STEPS" --learning-starts 1000 --critic-width 64 \
        --batch-size 128 --eval-every 1000 --eval-episodes 5 --final-eval-episodes 50 --baseline-width 64 \
        --space-widths 16,32,64 --space-core-bits 2..4 --space-input-bits 4..8 --workers 2 --out "$OUT/$name" --cache "$OUT/$name/cache" \
        --table "docs/results/tabular/$name.json.gz" "$@"
done
