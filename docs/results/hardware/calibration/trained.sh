#!/usr/bin/env bash
# Trained policies for the calibration grid's "trained" regime: short SAC trainings (a trained network's sparse,
# narrow weights are what matter to synthesis, not its return), each policy's QONNX kept in trained/ beside this script.
#   bash docs/results/hardware/calibration/trained.sh      # from the repository root, after scripts/install.sh
set -euo pipefail
cd "$(dirname "$0")/../../../.."
RUNS=${RUNS:-runs/hardware-trained}
OUT=docs/results/hardware/calibration/trained
TRAIN=(--steps 6000 --learning-starts 1000 --critic-width 64 --batch-size 64 --eval-every 0 --final-eval-episodes 2
       --threads 1 --no-progress)
# name env width core/input/output bits
POLICIES=(
  "pendulum-16-2-4-8 Pendulum-v1 16 2 4 8"
  "pendulum-32-3-6-8 Pendulum-v1 32 3 6 8"
  "pendulum-64-4-8-8 Pendulum-v1 64 4 8 8"
  "invertedpendulum-16-3-5-8 InvertedPendulum-v4 16 3 5 8"
  "invertedpendulum-32-2-4-4 InvertedPendulum-v4 32 2 4 4"
  "invertedpendulum-64-5-6-6 InvertedPendulum-v4 64 5 6 6"
  "hopper-32-4-6-8 Hopper-v4 32 4 6 8"
  "hopper-64-3-8-8 Hopper-v4 64 3 8 8"
)
mkdir -p "$OUT"
for policy in "${POLICIES[@]}"; do
  read -r name env width core input output <<<"$policy"
  [ -f "$RUNS/$name/complete.json" ] || .venv/bin/dse train --env "$env" --width "$width" --core-bits "$core" \
      --input-bits "$input" --output-bits "$output" "${TRAIN[@]}" --out "$RUNS/$name"
  cp "$RUNS/$name/policy.onnx" "$OUT/$name.onnx"
done
