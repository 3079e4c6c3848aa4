"""The replay memory with each observation stored once, against one that stores both (the reference, in the same run):
bytes per transition, resident memory of a full memory, and the time of a batch.

    .venv/bin/python bench/replay_memory.py [--env Humanoid-v4] [--rows 200000] [--batches 2000]

Fills a memory of ROWS transitions from the env with random actions (its episodes end as they do), then draws
BATCHES batches of 256 from each layout with the same generator, on one thread.
"""

import argparse
import resource
import time

import numpy as np
import torch

from training.envs import make_env
from training.member import step_env
from training.memory import replay_row_bytes
from training.replay import ReplayBuffer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--env", default="Humanoid-v4")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batches", type=int, default=2000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    env = make_env(args.env)
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    memory = ReplayBuffer(args.rows, obs_dim, act_dim)
    reference = torch.zeros(args.rows, obs_dim)  # the next observations a memory of both would store besides
    obs, _ = env.reset(seed=0)
    rng = np.random.default_rng(0)
    for row in range(args.rows):
        obs = step_env(env, obs, rng.uniform(-1, 1, act_dim), memory)
        reference[row] = memory.next_obs(torch.tensor([row]))[0]
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024
    timings = {}
    for name, draw in (
        ("stored once", lambda index: memory.next_obs(index)),
        ("both stored (reference)", lambda index: reference[index]),
    ):
        generator = torch.Generator().manual_seed(0)
        start = time.perf_counter()
        for _ in range(args.batches):
            index = torch.randint(0, args.rows, (256,), generator=generator)
            memory.obs[index], memory.actions[index], memory.rewards[index], memory.terminated[index], draw(index)
        timings[name] = (time.perf_counter() - start) / args.batches
    ends = len(memory._apart)
    once, both = replay_row_bytes(obs_dim, act_dim), replay_row_bytes(obs_dim, act_dim) + 4 * obs_dim - 1
    print(f"{args.env}: {obs_dim}-dim observations, {args.rows:,} rows, {ends:,} episode ends kept apart")
    print(f"bytes per transition: {once} stored once, {both} both stored: {once / both:.2f} of it")
    print(f"memory of {args.rows:,} rows (peak resident growth, both layouts held for the check): {grown / 2**20:,.0f} MB")
    print(f"a batch of 256: {timings['stored once'] * 1e6:.0f} us stored once, "
          f"{timings['both stored (reference)'] * 1e6:.0f} us both stored "
          f"({timings['stored once'] / timings['both stored (reference)']:.2f}x)")


if __name__ == "__main__":
    main()
