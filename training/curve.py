"""A training's learning curve, and the stop rule that reads it.

Each seed's curve is a CSV in its run folder (``CURVE_FIELDS``), and TensorBoard's
scalars when TensorBoard is installed. At each curve evaluation a stop rule
(``StopRule``, e.g. ``objectives.early_stop``) may end the training early.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

CURVE_FIELDS = ("env_step", "return_mean", "return_std", "wall_seconds")


class LearningCurve:
    """The learning curve: a CSV in the run folder, and TensorBoard when it is installed.

    A resumed training starts it again from the rows saved with its checkpoint
    (``rows``) and drops TensorBoard's points past the checkpoint's env step.
    """

    def __init__(self, run_dir: Path, rows: Sequence[list] = (), env_step: int = 0):
        self.rows = [list(row) for row in rows]
        self.file = open(run_dir / "curve.csv", "w", newline="")
        self.writer = csv.writer(self.file)
        self.writer.writerow(CURVE_FIELDS)
        self.writer.writerows(self.rows)
        self.file.flush()
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            self.tensorboard = None
        else:
            self.tensorboard = SummaryWriter(str(run_dir / "tensorboard"), purge_step=env_step or None)

    def add(self, env_step: int, returns: np.ndarray, wall_seconds: float) -> None:
        row = [env_step, float(returns.mean()), float(returns.std()), round(wall_seconds, 3)]
        self.rows.append(row)
        self.writer.writerow(row)
        self.file.flush()
        if self.tensorboard is not None:
            self.tensorboard.add_scalar("eval/return_mean", float(returns.mean()), env_step)

    def close(self) -> None:
        self.file.close()
        if self.tensorboard is not None:
            self.tensorboard.close()


class StopRule(Protocol):
    """Decides at each curve evaluation whether a training goes on (``objectives.early_stop``)."""

    name: str
    identity: str
    """everything its decisions depend on, as one string: a stopped run stands only for a rule of the same identity"""

    def check(self, env_step: int, mean_return: float) -> str | None:
        """Why to stop now, given the seeds' mean return at this evaluation; None to go on."""

    def state_dict(self) -> dict:
        """What its next decisions depend on besides its identity (saved with a training's checkpoint)."""

    def load_state_dict(self, state: dict) -> None:
        """Continue from ``state_dict``'s state."""


def stop_record(rule: StopRule | None, env_step: int, total_steps: int, mean_return: float) -> dict | None:
    """What ``complete.json`` records when ``rule`` ends the training at this curve evaluation; None to go on.

    The rule is not asked at the last env step: a training that ran to its end was not stopped early.
    """
    if rule is None or env_step >= total_steps:
        return None
    reason = rule.check(env_step, mean_return)
    if reason is None:
        return None
    return {"rule": rule.name, "identity": rule.identity, "env_step": env_step, "reason": reason}
