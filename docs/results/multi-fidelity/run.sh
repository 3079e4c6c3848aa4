#!/usr/bin/env bash
# Multi-fidelity against full fidelity (docs/results/multi-fidelity/README.md).
# Per env and study seed: the default search (ehvi) with every candidate trained to the end, at a budget of 18
# candidates, and the same search under successive halving (3 rungs, factor 3: 600, 1,800 and 5,400 env steps) at a
# budget of 27 candidates started (STEPS sets the fidelity; the rungs are STEPS/9, STEPS/3 and STEPS). Both open with the seeded space-filling start, so the seeds differ (after the
# staged start ehvi is deterministic). Early stopping is off for both (rungs replace it). The studies share one policy
# cache: a multi-fidelity candidate whose full training a full-fidelity study already made takes it from the cache,
# and is still charged its env steps (each study is charged its own env steps, summarize.py).
# Fidelity and space: 2 seeds x STEPS env steps (5,400 by default), widths 16,32,64, core bits 2..4, input bits
# 4..8 (45 candidates). The results of README.md: `bash run.sh`, then
# `STEPS=16200 ENVS=InvertedPendulum-v4 OUT=runs/multi-fidelity-16200 RESULTS=results-16200 bash run.sh` and
# `STEPS=48600 ENVS=Pendulum-v1 OUT=runs/multi-fidelity-48600 RESULTS=results-48600 bash run.sh`.
set -euo pipefail
cd "$(dirname "$0")/../../.."
STEPS=${STEPS:-5400}
OUT=${OUT:-runs/multi-fidelity}
RESULTS=${RESULTS:-results}
ENVS=${ENVS:-"InvertedPendulum-v4 Pendulum-v1"}
STUDY_SEEDS=${STUDY_SEEDS:-"0 1 2"}
FIDELITY=(--seeds 2 --steps "$STEPS" --learning-starts 500 --critic-width 64 --batch-size 128 --eval-every 0
          --final-eval-episodes 5 --baseline-width 64 --space-widths 16,32,64 --space-core-bits 2..4 --space-input-bits 4..8
          --workers 2 --early-stop off --startup space-filling --cache "$OUT/cache")
DSE=.venv/bin/dse
for env in $ENVS; do
    name=$(echo "${env%-v*}" | tr '[:upper:]' '[:lower:]')
    for seed in $STUDY_SEEDS; do
        $DSE run --env "$env" "${FIDELITY[@]}" --sampler-seed "$seed" --budget 18 --out "$OUT/$name/full-$seed"
        $DSE run --env "$env" "${FIDELITY[@]}" --sampler-seed "$seed" --budget 27 --fidelity-rungs 3 \
            --out "$OUT/$name/rungs-$seed"
    done
done
.venv/bin/python docs/results/multi-fidelity/summarize.py "$OUT" --out docs/results/multi-fidelity --name "$RESULTS"
