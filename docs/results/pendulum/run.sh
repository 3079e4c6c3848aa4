#!/usr/bin/env bash
# The reduced study behind docs/results/pendulum/: staged rule, core sweep, noise, curves, table.
# Reduced fidelity: 6k env steps per training (the paper: 1M), 3 seeds (the paper: 10), critics of width 64 and
# batch 128 (CleanRL: 256 and 256), 10 final evaluation episodes per seed. All studies share one policy cache.
set -euo pipefail
cd "$(dirname "$0")/../../.."
OUT=${OUT:-runs/results}
FIDELITY=(--env Pendulum-v1 --seeds 3 --steps 6000 --learning-starts 1000 --critic-width 64 --batch-size 128
          --eval-every 1000 --eval-episodes 5 --final-eval-episodes 10 --workers 2 --cache "$OUT/cache")
DSE=.venv/bin/dse
$DSE run "${FIDELITY[@]}" --strategy staged --budget 17 --out "$OUT/staged"
$DSE sweep "${FIDELITY[@]}" --scope core --bits 2..8 --width 256 --out "$OUT/sweep-core"
$DSE noise "$OUT/staged" --sigma 0,0.1,0.2,0.3,0.4,0.5 --episodes 10 --workers 2
$DSE curves "$OUT/staged"
$DSE table "$OUT/staged" "$OUT/sweep-core" --out "$OUT/table"
