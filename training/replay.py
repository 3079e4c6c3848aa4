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


def _same_bits(one: torch.Tensor, other: torch.Tensor) -> bool:
    """Bit for bit equal float32 vectors (equality of values would take -0.0 for 0.0)."""
    return torch.equal(one.view(torch.int32), other.view(torch.int32))


class ReplayBuffer:
    """A ring of ``capacity`` transitions, each observation stored once.

    A transition's next observation is the next row's observation, except where the episode ended (reset, or the
    time limit) and for the newest row, whose next row is not written yet: those are kept apart (``_apart``, one
    per episode end) and ``_newest_next``. Which next observations are kept apart is decided by comparing bits, so
    every batch is exactly what storing both observations would give, at about half the memory.
    """

    def __init__(self, capacity: int, obs_dim: int, act_dim: int):
        self.capacity = capacity
        self.obs = torch.zeros(capacity, obs_dim)
        self.actions = torch.zeros(capacity, act_dim)
        self.rewards = torch.zeros(capacity)
        self.terminated = torch.zeros(capacity)
        self.position = 0
        self.size = 0
        self._apart: dict[int, torch.Tensor] = {}
        """next observations that are not the next row's observation, by row"""
        self._is_apart = torch.zeros(capacity, dtype=torch.bool)
        """the rows of ``_apart``, to find them in a batch without a Python loop over it"""
        self._newest_next: torch.Tensor | None = None


    def add(self, obs: np.ndarray, action: np.ndarray, reward: float, next_obs: np.ndarray, terminated: bool) -> None:
        i = self.position
        self.obs[i] = torch.as_tensor(obs, dtype=torch.float32)
        self._set_apart(i, None)  # the transition this row held is gone
        if self._newest_next is not None and not _same_bits(self._newest_next, self.obs[i]):
            self._set_apart((i - 1) % self.capacity, self._newest_next)  # the previous row ended its episode
        self._newest_next = torch.as_tensor(next_obs, dtype=torch.float32).clone()
        self.actions[i] = torch.as_tensor(action, dtype=torch.float32)
        self.rewards[i] = float(reward)
        self.terminated[i] = float(terminated)
        self.position = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def _set_apart(self, row: int, following: torch.Tensor | None) -> None:
        if following is None:
            self._apart.pop(row, None)
        else:
            self._apart[row] = following
        self._is_apart[row] = following is not None

    def next_obs(self, index: torch.Tensor) -> torch.Tensor:
        """The next observations of the rows ``index``."""
        following = self.obs[(index + 1) % self.capacity]
        apart = self._is_apart[index]
        if apart.any():
            following[apart] = torch.stack([self._apart[row] for row in index[apart].tolist()])
        newest = index == (self.position - 1) % self.capacity
        if self.size and newest.any():
            following[newest] = self._newest_next
        return following

    def rows(self, first: int, end: int) -> dict[str, torch.Tensor]:
        """The rows written by the ``first``-th up to the ``end``-th add (at most ``capacity`` back), for a checkpoint."""
        index = torch.arange(first, end) % self.capacity
        rows = {name: getattr(self, name)[index].clone() for name in _ROWS if name != "next_obs"}
        return rows | {"next_obs": self.next_obs(index)}

    def put_rows(self, first: int, rows: dict[str, torch.Tensor]) -> None:
        """Write ``rows`` back where ``rows(first, ...)`` read them; ``settle`` once the last rows are back.

        Next observations that are the following row's observation are not kept; the others, and the segment's last
        (whose following row comes with the next segment, if any), are kept apart, each a copy of its own.
        """
        index = torch.arange(first, first + len(rows["rewards"])) % self.capacity
        for name in _ROWS:
            if name != "next_obs":
                getattr(self, name)[index] = rows[name]
        following = rows["next_obs"]
        implicit = (following[:-1].view(torch.int32) == rows["obs"][1:].view(torch.int32)).all(dim=1)
        for at in [*(~implicit).nonzero().flatten().tolist(), len(index) - 1] if len(index) else []:
            self._set_apart(int(index[at]), following[at].clone())

    def settle(self) -> None:
        """After ``put_rows`` and ``position``: keep apart only the next observations the next row does not hold (the
        few ``put_rows`` kept, checked against the rows now all back)."""
        newest = (self.position - 1) % self.capacity
        if self.size:
            self._newest_next = self._apart[newest]
            self._set_apart(newest, None)
        for row, following in list(self._apart.items()):
            if _same_bits(following, self.obs[(row + 1) % self.capacity]):
                self._set_apart(row, None)

    def sample(
        self, batch_size: int, generator: torch.Generator, normalize: Callable[[torch.Tensor], torch.Tensor]
    ) -> Batch:
        """A uniform batch, with both observations passed through ``normalize``."""
        index = torch.randint(0, self.size, (batch_size,), generator=generator)
        return Batch(
            normalize(self.obs[index]),
            self.actions[index],
            self.rewards[index],
            normalize(self.next_obs(index)),
            self.terminated[index],
        )
