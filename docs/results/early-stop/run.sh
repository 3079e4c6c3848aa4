#!/usr/bin/env bash
# Calibration data of the early-stop rules (docs/results/early-stop/README.md): sweeps trained to the end with
# early stopping off and a curve point every 1,000 steps, then the rules replayed over their curves, together with
# the reduced Pendulum study of docs/results/pendulum (OUT_PENDULUM, if it is there).
# Reduced fidelity: 10k env steps per training, 3 seeds, critics of width 64 and batch 128.
set -euo pipefail
cd "$(dirname "$0")/../../.."
OUT=${OUT:-runs/calibration}
OUT_PENDULUM=${OUT_PENDULUM:-runs/results}
FIDELITY=(--seeds 3 --steps 10000 --learning-starts 1000 --critic-width 64 --batch-size 128 --baseline-width 64
          --eval-every 1000 --eval-episodes 5 --final-eval-episodes 10 --workers 2 --early-stop off --cache "$OUT/cache")
DSE=.venv/bin/dse
$DSE sweep --env Pendulum-v1 "${FIDELITY[@]}" --scope all --bits 2..8 --width 64 --out "$OUT/pendulum-all"
$DSE sweep --env Pendulum-v1 "${FIDELITY[@]}" --widths 256,128,64,32,16 --core-bits 2 --out "$OUT/pendulum-width"
$DSE sweep --env InvertedPendulum-v4 "${FIDELITY[@]}" --scope all --bits 2..8 --width 64 --out "$OUT/invertedpendulum-all"
RUNS=("$OUT/pendulum-all" "$OUT/pendulum-width" "$OUT/invertedpendulum-all")
for study in staged sweep-core; do
    if [ -d "$OUT_PENDULUM/$study" ]; then RUNS+=("$OUT_PENDULUM/$study"); fi
done
.venv/bin/python bench/early_stop_calibration.py "${RUNS[@]}" --grid
