"""Deterministic evaluation rollouts, optionally with Gaussian noise on the normalized observation."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from training.envs import make_env
from training.errors import TrainingInputError
from training.normalizer import ObsNormalizer

#: Episodes run side by side, so the policy is called on a batch rather than once per env.
PARALLEL_ENVS = 16
#: First entropy word of the episodes of a training's learning-curve points and of its final evaluation; the
#: training seed is the second, so every seed and every purpose draws episodes of its own.
CURVE_EPISODES, FINAL_EPISODES = 1, 2


@dataclass(frozen=True)
class Actor:
    """A policy as an evaluation runs it: normalized observations (batch, obs), float32 -> actions in [-1, 1]."""

    act: Callable[[torch.Tensor], torch.Tensor]
    forward: str
    """what computes the actions (recorded with the returns): a float forward, or the deployed integer network"""


def episode_streams(seed: int | Sequence[int], episodes: int) -> list[tuple[int, np.random.Generator]]:
    """Per episode: its env reset seed and its noise generator, drawn from the entropy ``seed``.

    Independent for different entropy (two training seeds never share an episode),
    the same for the same entropy (models compared under one seed meet the same episodes).
    """
    streams = []
    for episode in np.random.SeedSequence(seed).spawn(episodes):
        reset, noise = episode.spawn(2)
        streams.append((int(reset.generate_state(1)[0]), np.random.default_rng(noise)))
    return streams


@torch.no_grad()
def evaluate(
    policy: Callable[[torch.Tensor], torch.Tensor],
    normalizer: ObsNormalizer,
    env_id: str,
    episodes: int,
    seed: int | Sequence[int],
    noise_sigma: float = 0.0,
) -> np.ndarray:
    """Undiscounted returns of ``episodes`` deterministic episodes, in episode order.

    ``policy`` maps normalized observations to actions in [-1, 1]. Episode ``i``
    resets its env and draws its observation noise from the ``i``-th of
    ``episode_streams(seed)``, so the returns do not depend on how episodes are interleaved.
    """
    if noise_sigma < 0:
        raise TrainingInputError(f"noise sigma {noise_sigma} is invalid: it must be >= 0")
    if episodes < 1:
        raise TrainingInputError(f"episodes {episodes} is invalid: it must be at least 1")
    streams = episode_streams(seed, episodes)
    returns = np.zeros(episodes)
    envs = [make_env(env_id) for _ in range(min(PARALLEL_ENVS, episodes))]
    low, high = envs[0].action_space.low, envs[0].action_space.high
    next_episode = 0
    running: list[dict] = []

    def start(env) -> dict:
        nonlocal next_episode
        episode = next_episode
        next_episode += 1
        reset_seed, rng = streams[episode]
        obs, _ = env.reset(seed=reset_seed)
        return {"env": env, "episode": episode, "obs": obs, "rng": rng}

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
