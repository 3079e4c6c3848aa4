#!/usr/bin/env bash
# The search against the staged rule at equal trainings (docs/results/search-vs-staged/README.md).
# Per env: every candidate of the space once (the random strategy at a budget of the whole space: what the space
# holds, and it fills the shared policy cache), the staged rule (it uses no sampler seed), then each search
# configuration at the staged rule's number of candidates for every study seed. All studies share one policy
# cache, so a training any study made is reused by the others; each study is still charged its own trainings
# (dse compare, summarize.py). Early stopping is off for every study (as the staged rule runs), so a cached
# training is the same whichever study made it.
# Fidelity and space: the README quickstart's (2 seeds x 2,500 env steps, widths 16,32,64, core bits 2..4,
# input bits 4..8, output bits 8: 45 candidates).
set -euo pipefail
cd "$(dirname "$0")/../../.."
OUT=${OUT:-runs/search-vs-staged}
ENVS=${ENVS:-"Pendulum-v1 InvertedPendulum-v4 Reacher-v4"}
CONFIGS=${CONFIGS:-"ehvi-staged tpe-staged tpe-space-filling tpe-random gp-staged gp-space-filling nsga2-staged nsga2-space-filling random"}
STUDY_SEEDS=${STUDY_SEEDS:-"0 1 2"}
FIDELITY=(--seeds 2 --steps 2500 --learning-starts 500 --critic-width 64 --batch-size 128 --eval-every 500
          --eval-episodes 3 --final-eval-episodes 5 --baseline-width 64 --space-widths 16,32,64 --space-core-bits 2..4
          --space-input-bits 4..8 --workers 2 --early-stop off --cache "$OUT/cache")
DSE=.venv/bin/dse
HERE=docs/results/search-vs-staged
for env in $ENVS; do
    name=$(echo "${env%-v*}" | tr '[:upper:]' '[:lower:]')
    $DSE run --env "$env" "${FIDELITY[@]}" --strategy random --budget 45 --out "$OUT/$name/every-candidate"
    $DSE run --env "$env" "${FIDELITY[@]}" --strategy staged --out "$OUT/$name/staged"
    budget=$(.venv/bin/python $HERE/summarize.py --candidates "$OUT/$name/staged")
    for config in $CONFIGS; do
        sampler=${config%%-*}
        startup=${config#*-}
        for seed in $STUDY_SEEDS; do
            if [ "$config" = random ]; then
                strategy=(--strategy random)
            else
                strategy=(--strategy search --sampler "$sampler" --startup "$startup")
            fi
            $DSE run --env "$env" "${FIDELITY[@]}" "${strategy[@]}" --sampler-seed "$seed" --budget "$budget" \
                --out "$OUT/$name/$config-$seed"
        done
    done
done
.venv/bin/python $HERE/summarize.py "$OUT" --out $HERE
