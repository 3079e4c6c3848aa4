#!/usr/bin/env bash
# Hardware truth of the published shapes and of small designs: short trainings, then for each policy the FINN
# estimate and the post-synthesis design (RTL -> yosys -> Verilator) side by side (docs/results/hardware/table.md).
# FINN's estimate (--estimator finn) is what this table compares; the hardware model's figures are in published.md.
#   bash docs/results/hardware/run.sh            # from the repository root, after scripts/install.sh
# Trainings: 3,000 env steps each (the designs' shapes and bit widths are what matter here, not their returns).
set -euo pipefail
cd "$(dirname "$0")/../../.."
RUNS=${RUNS:-runs/hardware}
TRAIN=(--steps 3000 --learning-starts 1000 --critic-width 64 --batch-size 64 --eval-every 0 --final-eval-episodes 2 --no-progress)
# name env width core/input/output bits target (actions/s; the published designs' latency is the 1e4 folding's)
DESIGNS=(
  "walker2d-256-4-8-8 Walker2d-v4 256 4 8 8 1e4"
  "hopper-256-4-8-8 Hopper-v4 256 4 8 8 1e4"
  "ant-256-4-8-8 Ant-v4 256 4 8 8 1e4"
  "halfcheetah-256-4-8-8 HalfCheetah-v4 256 4 8 8 1e4"
  "humanoid-256-4-8-8 Humanoid-v4 256 4 8 8 1e4"
  "halfcheetah-256-3-8-8 HalfCheetah-v4 256 3 8 8 1e4"
  "walker2d-128-2-3-8 Walker2d-v4 128 2 3 8 1e4"
  "pendulum-16-4-8-8 Pendulum-v1 16 4 8 8 sweep"
  "pendulum-64-4-8-8 Pendulum-v1 64 4 8 8 sweep"
  "invertedpendulum-16-4-8-8 InvertedPendulum-v4 16 4 8 8 sweep"
  "invertedpendulum-64-4-8-8 InvertedPendulum-v4 64 4 8 8 sweep"
)
for design in "${DESIGNS[@]}"; do
  read -r name env width core input output target <<<"$design"
  [ -f "$RUNS/$name/complete.json" ] || .venv/bin/dse train --env "$env" --width "$width" --core-bits "$core" \
      --input-bits "$input" --output-bits "$output" "${TRAIN[@]}" --out "$RUNS/$name"
done
for design in "${DESIGNS[@]}"; do
  read -r name env width core input output target <<<"$design"
  if [ "$target" = sweep ]; then
    ( time .venv/bin/dse synth "$RUNS/$name" --estimator finn --post-synth ) 2>&1 | tee "$RUNS/$name/post-synth.log"
  else
    ( time .venv/bin/dse synth "$RUNS/$name" --estimator finn --target-fps "$target" --post-synth ) 2>&1 | tee "$RUNS/$name/post-synth.log"
  fi
done
.venv/bin/python docs/results/hardware/table.py "$RUNS" docs/results/hardware
# the hardware model on untrained policies of the published shapes, against FINN, yosys and the published figures
.venv/bin/python docs/results/hardware/published.py runs/published docs/results/hardware
