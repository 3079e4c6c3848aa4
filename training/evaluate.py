"""Deterministic evaluation rollouts, optionally with Gaussian noise on the normalized observation."""

from __future__ import annotations

import numpy as np
import torch

from training.envs import make_env
from training.errors import TrainingInputError
from training.normalizer import ObsNormalizer

#: Episodes run side by side, so the policy is called on a batch rather than once per env.
PARALLEL_ENVS = 16


@torch.no_grad()
def evaluate(
    policy: torch.nn.Module,
    normalizer: ObsNormalizer,
    env_id: str,
    episodes: int,
    seed: int,
    noise_sigma: float = 0.0,
) -> np.ndarray:
    """Undiscounted returns of ``episodes`` deterministic episodes, in episode order.

    ``policy`` maps normalized observations to actions in [-1, 1]. Episode ``i``
    resets its env with seed ``seed + i`` and draws its observation noise from its
    own generator, so the returns do not depend on how episodes are interleaved.
    """
    if noise_sigma < 0:
        raise TrainingInputError(f"noise sigma {noise_sigma} is invalid: it must be >= 0")
    if episodes < 1:
        raise TrainingInputError(f"episodes {episodes} is invalid: it must be at least 1")
    returns = np.zeros(episodes)
    envs = [make_env(env_id) for _ in range(min(PARALLEL_ENVS, episodes))]
    low, high = envs[0].action_space.low, envs[0].action_space.high
    next_episode = 0
    running: list[dict] = []

    def start(env) -> dict:
        nonlocal next_episode
        episode = next_episode
        next_episode += 1
        obs, _ = env.reset(seed=seed + episode)
        return {"env": env, "episode": episode, "obs": obs, "rng": np.random.default_rng([seed, episode])}

    for env in envs:
        running.append(start(env))
    while running:
        obs = normalizer(np.stack([slot["obs"] for slot in running]))
        if noise_sigma > 0:
            obs = obs + np.stack([slot["rng"].normal(0.0, noise_sigma, obs.shape[1]) for slot in running])
        actions = policy(torch.as_tensor(obs, dtype=torch.float32)).numpy()
        actions = low + (actions + 1.0) * 0.5 * (high - low)
        still_running = []
        for slot, action in zip(running, actions):
            slot["obs"], reward, terminated, truncated, _ = slot["env"].step(action)
            returns[slot["episode"]] += reward
            if terminated or truncated:
                if next_episode < episodes:
                    still_running.append(start(slot["env"]))
            else:
                still_running.append(slot)
        running = still_running
    for env in envs:
        env.close()
    return returns
