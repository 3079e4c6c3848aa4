"""What a training holds in memory, planned before it starts (nothing here imports torch, so a study's plan stays
light)."""

from __future__ import annotations

TASK_OVERHEAD_BYTES = 512 * 2**20
"""a training task besides its replay memories: Python, torch, Brevitas, MuJoCo, the networks (409 MB peak measured
for a 2-seed Hopper task with a 1,000-row memory on the development machine; rounded up)"""


def replay_row_bytes(obs_dim: int, act_dim: int) -> int:
    """One transition of ``ReplayBuffer``: its observation once, action, reward, termination (float32) and a flag."""
    return 4 * (obs_dim + act_dim + 2) + 1


def replay_rows(buffer_size: int, total_steps: int) -> int:
    """The rows a seed's replay memory is allocated with: it never needs more than the training's steps."""
    return min(buffer_size, total_steps)


def gigabytes(size: float) -> str:
    """A memory size for reading: 0.44 MB, 512 MB, 1.5 GB, 148 GB."""
    if size < 2**30:
        megabytes = size / 2**20
        return f"{megabytes:.2g} MB" if megabytes < 10 else f"{megabytes:,.0f} MB"
    return f"{size / 2**30:.2g} GB" if size < 10 * 2**30 else f"{size / 2**30:,.0f} GB"
