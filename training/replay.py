"""Replay memory of raw transitions.

Observations are stored raw and normalized when a batch is drawn, so every batch
sees the normalizer's current statistics rather than those of the moment the
transition was collected.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Batch:
    obs: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    next_obs: torch.Tensor
    terminated: torch.Tensor
    """1.0 where the episode ended in a terminal state (no bootstrap); truncation is not termination"""

    @classmethod
    def stack(cls, batches: list[Batch]) -> Batch:
        """One batch per member -> one batch with the members on the leading dimension."""
        return cls(*(torch.stack([getattr(batch, field.name) for batch in batches]) for field in dataclasses.fields(cls)))


_ROWS = ("obs", "next_obs", "actions", "rewards", "terminated")


class ReplayBuffer:
    def __init__(self, capacity: int, obs_dim: int, act_dim: int):
        self.capacity = capacity
        self.obs = torch.zeros(capacity, obs_dim)
        self.next_obs = torch.zeros(capacity, obs_dim)
        self.actions = torch.zeros(capacity, act_dim)
        self.rewards = torch.zeros(capacity)
        self.terminated = torch.zeros(capacity)
        self.position = 0
        self.size = 0

    def add(self, obs: np.ndarray, action: np.ndarray, reward: float, next_obs: np.ndarray, terminated: bool) -> None:
        i = self.position
        self.obs[i] = torch.as_tensor(obs, dtype=torch.float32)
        self.next_obs[i] = torch.as_tensor(next_obs, dtype=torch.float32)
        self.actions[i] = torch.as_tensor(action, dtype=torch.float32)
        self.rewards[i] = float(reward)
        self.terminated[i] = float(terminated)
        self.position = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def rows(self, first: int, end: int) -> dict[str, torch.Tensor]:
        """The rows written by the ``first``-th up to the ``end``-th add (at most ``capacity`` back), for a checkpoint."""
        index = torch.arange(first, end) % self.capacity
        return {name: getattr(self, name)[index].clone() for name in _ROWS}

    def put_rows(self, first: int, rows: dict[str, torch.Tensor]) -> None:
        """Write ``rows`` back where ``rows(first, ...)`` read them."""
        index = torch.arange(first, first + len(rows["rewards"])) % self.capacity
        for name in _ROWS:
            getattr(self, name)[index] = rows[name]

    def sample(
        self, batch_size: int, generator: torch.Generator, normalize: Callable[[torch.Tensor], torch.Tensor]
    ) -> Batch:
        """A uniform batch, with both observations passed through ``normalize``."""
        index = torch.randint(0, self.size, (batch_size,), generator=generator)
        return Batch(
            normalize(self.obs[index]),
            self.actions[index],
            self.rewards[index],
            normalize(self.next_obs[index]),
            self.terminated[index],
        )
