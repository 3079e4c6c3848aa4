"""What saving a training costs: seconds and bytes per save, against the training time between saves.

    .venv/bin/python bench/checkpoint_cost.py [--env Walker2d-v4] [--seeds 10] [--width 256] [--steps 3000] [--every 1000]

Trains ``--seeds`` seeds of a QAT policy together (the paper's critics and batch) for
``--steps`` env steps, saving every ``--every`` steps, and reports per save the time
it took and what it wrote: the state file (networks, optimizers, RNGs, normalizers,
each env's MjData) and the replay rows added since the previous save. The reference
is the training time between two saves, measured in the same run, so the ratio is
the share of training time spent saving at that interval; at the default 10-minute
interval the state is written the same way and the replay file grows with the rows.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from training import PolicyConfig, SACConfig, TrainSpec
from training.checkpoint import Checkpointing
from training.run import Trainer, member_specs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--env", default="Walker2d-v4")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--every", type=int, default=1000)
    parser.add_argument("--learning-starts", type=int, default=1000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    policy = PolicyConfig(width=args.width, core_bits=4, input_bits=8, output_bits=8)
    spec = TrainSpec(env_id=args.env, policy=policy, hyper=SACConfig(learning_starts=args.learning_starts),
                     total_steps=args.steps + 1, eval_every=0, final_eval_episodes=1)
    saves = []
    with tempfile.TemporaryDirectory() as scratch:
        checkpointing = Checkpointing(Path(scratch) / "checkpoint", every_steps=None, every_seconds=None)
        trainer = Trainer(member_specs(spec, range(args.seeds)), [Path(scratch) / f"s{seed}" for seed in range(args.seeds)],
                          checkpointing=checkpointing)
        training_seconds = 0.0
        while trainer.global_step < args.steps:
            started = time.perf_counter()
            trainer.step()
            training_seconds += time.perf_counter() - started
            if trainer.global_step % args.every == 0:
                started = time.perf_counter()
                saved = trainer.save_checkpoint()
                seconds = time.perf_counter() - started
                sizes = {path.name.split("-")[0]: path.stat().st_size for path in saved.written}
                saves.append((trainer.global_step, seconds, sizes.get("state", 0), sizes.get("replay", 0), training_seconds))
                training_seconds = 0.0
    print(f"{args.env}, {args.seeds} seeds x QAT width {args.width} (critics 256, batch 256), one torch thread, "
          f"a save every {args.every:,} env steps")
    print("| env step | save s | state MB | replay rows MB | training s since last save | save / training |")
    print("|---|---|---|---|---|---|")
    for step, seconds, state, replay, trained in saves:
        print(f"| {step:,} | {seconds:.3f} | {state / 1e6:.1f} | {replay / 1e6:.1f} | {trained:.1f} | {seconds / trained:.2%} |")


if __name__ == "__main__":
    main()
