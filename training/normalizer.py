"""Running per-dimension observation normalization (the paper; docs/training.md)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

EPSILON = 1e-8


@dataclass
class ObsNormalizer:
    """Mean and variance of every observation seen in training (parallel-variance update).

    Training updates it on each new observation; evaluation and deployment use a
    frozen copy. ``enabled=False`` is the identity (``--no-normalize``).
    """

    mean: np.ndarray
    var: np.ndarray
    count: float
    clip: float
    enabled: bool = True

    @classmethod
    def fresh(cls, obs_dim: int, clip: float, enabled: bool = True) -> ObsNormalizer:
        return cls(np.zeros(obs_dim), np.ones(obs_dim), EPSILON, clip, enabled)

    def update(self, obs: np.ndarray) -> None:
        batch = np.asarray(obs, dtype=np.float64).reshape(-1, self.mean.shape[0])
        batch_mean, batch_var, batch_count = batch.mean(0), batch.var(0), batch.shape[0]
        delta = batch_mean - self.mean
        total = self.count + batch_count
        self.mean = self.mean + delta * batch_count / total
        m2 = self.var * self.count + batch_var * batch_count + delta**2 * self.count * batch_count / total
        self.var = m2 / total
        self.count = total

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """Normalize a numpy observation (or batch) to float32."""
        obs = np.asarray(obs, dtype=np.float64)
        if not self.enabled:
            return obs.astype(np.float32)
        normalized = (obs - self.mean) / np.sqrt(self.var + EPSILON)
        return np.clip(normalized, -self.clip, self.clip).astype(np.float32)

    def torch_normalize(self, obs: torch.Tensor) -> torch.Tensor:
        """Normalize a float32 torch batch with the current statistics."""
        if not self.enabled:
            return obs
        mean = torch.from_numpy(self.mean.astype(np.float32))
        std = torch.from_numpy(np.sqrt(self.var + EPSILON).astype(np.float32))
        return torch.clamp((obs - mean) / std, -self.clip, self.clip)

    def state_dict(self) -> dict:
        return {
            "mean": self.mean.tolist(),
            "var": self.var.tolist(),
            "count": self.count,
            "clip": self.clip,
            "enabled": self.enabled,
        }

    @classmethod
    def from_state_dict(cls, state: dict) -> ObsNormalizer:
        return cls(
            np.asarray(state["mean"], dtype=np.float64),
            np.asarray(state["var"], dtype=np.float64),
            float(state["count"]),
            float(state["clip"]),
            bool(state["enabled"]),
        )
