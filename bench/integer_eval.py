"""How far the deployed integer network's returns are from training's float32 forward, on real trained policies.

    .venv/bin/python bench/integer_eval.py FOLDER... [--episodes 20] [--seed 7]

FOLDER: run folders, or folders holding them (a study's ``cache/train``). For each
quantized run: the same episodes (the same entropy: env resets and all) acted once
by training's float32 forward (``load_policy``: what scored policies before) and
once by the integer-only network the FPGA computes (``dse.study.deploy.integer_actor``,
what scores them now); the mean returns, their difference, and the share of the
float episodes' actions whose output level the integer network computes differently.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def run_folders(folders: list[str]) -> list[Path]:
    found = []
    for folder in map(Path, folders):
        candidates = [folder] if (folder / "complete.json").exists() else sorted(folder.glob("*/complete.json"))
        found += [path if path.is_dir() else path.parent for path in candidates]
    return found


def compare(run_dir: Path, episodes: int, seed: int) -> dict | None:
    import torch

    from dse.study.deploy import integer_actor
    from synthesis import lower_qonnx
    from training import evaluate, load_policy, read_run

    config = read_run(run_dir)
    if config["spec"]["policy"]["fp32"]:
        return None
    policy, normalizer = load_policy(run_dir)
    integer = integer_actor(run_dir)
    seen: list[np.ndarray] = []

    def float_forward(obs: torch.Tensor) -> torch.Tensor:
        seen.append(obs.numpy().copy())
        return policy(obs)

    env_id = config["spec"]["env_id"]
    entropy = (seed, config["spec"]["seed"])
    with torch.no_grad():
        float_returns = evaluate(float_forward, normalizer, env_id, episodes, entropy)
        integer_returns = evaluate(integer.act, normalizer, env_id, episodes, entropy)
        # an action differs when its output level does (tanh's last-bit rounding in float32 is not a difference)
        observations = np.concatenate(seen)
        network = lower_qonnx(run_dir / "policy.onnx")
        float_levels = np.round(policy.net(torch.as_tensor(observations)).numpy() / np.float32(network.output_step))
        differ = float(np.mean(np.any(float_levels != network(observations), axis=1)))
    return {
        "run": run_dir.name,
        "float": float(float_returns.mean()),
        "integer": float(integer_returns.mean()),
        "difference": float(integer_returns.mean() - float_returns.mean()),
        "episodes_differing": int(np.sum(float_returns != integer_returns)),
        "actions_differing": differ,
    }


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+")
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7, help="first entropy word of the episodes (the run's seed is the second)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    rows = [row for run in run_folders(args.folders) if (row := compare(run, args.episodes, args.seed)) is not None]
    print(f"{len(rows)} quantized policies, {args.episodes} episodes each, the same episodes for both forwards")
    print("| run | float32 return | integer return | integer - float | episodes differing | actions differing |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['run']} | {row['float']:.2f} | {row['integer']:.2f} | {row['difference']:+.2f} | "
              f"{row['episodes_differing']}/{args.episodes} | {row['actions_differing']:.2%} |")
    if rows:
        differences = np.array([row["difference"] for row in rows])
        print(f"\nmean |integer - float| {np.abs(differences).mean():.3f}, largest {differences[np.argmax(np.abs(differences))]:+.3f}; "
              f"actions differing: mean {np.mean([row['actions_differing'] for row in rows]):.3%}, "
              f"most {max(row['actions_differing'] for row in rows):.3%}")


if __name__ == "__main__":
    main()
