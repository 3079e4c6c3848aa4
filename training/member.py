"""One seed's own state in a training: its run folder, env, RNGs, normalizer, replay memory and learning curve.

The seeds trained together (``training.run.Trainer``) share only their stacked
networks; everything that makes a seed's run its own lives here, so a seed
trained with others gives the same run as it trained alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from training.checkpoint import env_state, restore_env
from training.config import TrainSpec
from training.curve import LearningCurve
from training.envs import make_env
from training.evaluation import CURVE_EPISODES, evaluate
from training.memory import replay_rows
from training.normalizer import ObsNormalizer
from training.replay import Batch, ReplayBuffer


def step_env(env, obs: np.ndarray, action: np.ndarray, buffer: ReplayBuffer) -> np.ndarray:
    """One env step into the replay buffer; returns the observation the policy acts on next.

    The stored transition keeps the episode's true last observation, and only
    termination (not truncation by a time limit) stops bootstrapping.
    """
    next_obs, reward, terminated, truncated, _ = env.step(action)
    buffer.add(obs, action, reward, next_obs, terminated)
    if terminated or truncated:
        next_obs, _ = env.reset()
    return next_obs


class Member:
    """One seed's own state in a training: run folder, env, RNGs, normalizer, replay, curve."""

    def __init__(self, spec: TrainSpec, out_dir: Path, obs_dim: int, act_dim: int):
        self.spec = spec
        self.out_dir = out_dir
        self.env = make_env(spec.env_id)
        self.generator = torch.Generator().manual_seed(spec.seed)
        self.rng = np.random.default_rng(spec.seed)
        self.normalizer = ObsNormalizer.fresh(obs_dim, spec.obs_clip, spec.normalize)
        self.buffer = ReplayBuffer(replay_rows(spec.hyper.buffer_size, spec.total_steps), obs_dim, act_dim)
        self.curve = LearningCurve(out_dir)
        self.obs, _ = self.env.reset(seed=spec.seed)
        self.normalizer.update(self.obs)

    def step(self, action: np.ndarray) -> None:
        """One env step with ``action``; the normalizer learns from the observation the policy acts on next."""
        self.obs = step_env(self.env, self.obs, action, self.buffer)
        self.normalizer.update(self.obs)

    def sample(self, batch_size: int) -> Batch:
        """A batch of this seed's replay, drawn by its own generator and normalized by its normalizer as it is now."""
        return self.buffer.sample(batch_size, self.generator, self.normalizer.torch_normalize)

    def add_curve_point(self, policy: Callable[[torch.Tensor], torch.Tensor], env_step: int, started: float) -> float:
        """This seed's ``policy`` evaluated on the seed's own learning-curve episodes, added to its curve at
        ``env_step`` with the wall time since ``started``; the mean return."""
        spec = self.spec
        returns = evaluate(policy, self.normalizer, spec.env_id, spec.eval_episodes, (CURVE_EPISODES, spec.seed))
        self.curve.add(env_step, returns, time.perf_counter() - started)
        return float(returns.mean())

    def close(self) -> None:
        """Close the env and the curve's files: the training of this seed is over (or paused)."""
        self.env.close()
        self.curve.close()

    def state_dict(self) -> dict:
        """Everything of this seed but its replay rows (``ReplayBuffer.rows``)."""
        return {
            "generator": self.generator.get_state(),
            "rng": self.rng.bit_generator.state,
            "normalizer": self.normalizer.state_dict(),
            "replay": {"position": self.buffer.position, "size": self.buffer.size},
            "obs": torch.from_numpy(np.array(self.obs)),
            "env": env_state(self.env),
            "curve": self.curve.rows,
        }

    def load_state_dict(self, state: dict, env_step: int) -> None:
        self.generator.set_state(state["generator"])
        self.rng.bit_generator.state = state["rng"]
        self.normalizer = ObsNormalizer.from_state_dict(state["normalizer"])
        self.buffer.position, self.buffer.size = state["replay"]["position"], state["replay"]["size"]
        self.obs = state["obs"].numpy()
        restore_env(self.env, state["env"])
        self.curve.close()
        self.curve = LearningCurve(self.out_dir, state["curve"], env_step)
