"""Early stopping of candidates that cannot reach FP32 parity.

Optuna prunes only single-objective studies, so the project does it: at each
evaluation checkpoint of a candidate's training, the best so far of its curve
(the mean over its seeds at each checkpoint) is compared with the best so far of
the lower edge of the FP32 baseline's curve band (mean minus std over its seeds
at each checkpoint: the curve's counterpart of the parity band's lower edge) at
the same env step. Best-so-far values, because curves from a few evaluation
episodes dip and recover (seen in the calibration data): a candidate is judged by
what it has shown it can do. How far behind it is counts in units of what FP32
learned over the whole training (its best mean minus its first), so one rule
fits returns of any scale. That edge never counts above the FP32 band's own lower
edge (``Fp32Curve.parity_lower``): parity is judged against the band of the
baseline's final returns, so a candidate whose best checkpoint already reaches it is
never stopped, even where a baseline seed reached more mid-training than it kept. A rule
stops a candidate that is more than ``behind`` of that behind FP32 at
``checkpoints`` consecutive checkpoints, none earlier than ``after`` of the
training. Where FP32 learned nothing measurable there is no unit, and nothing
is stopped. ``bench/early_stop_calibration.py`` replays the
rules over finished studies and reports what they save and whom they would
have stopped wrongly.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from objectives.parity import ObjectivesInputError, seed_std


@dataclass(frozen=True)
class EarlyStopRule:
    name: str
    behind: float
    """how far behind the FP32 curve stops a candidate, as a fraction of FP32's learning progress"""
    after: float
    """fraction of the training before which no candidate is stopped"""
    checkpoints: int
    """consecutive checkpoints it must be that far behind"""


# Calibrated on 43 configurations of 5 studies (docs/results/early-stop, with independent evaluation episodes and
# the sample-std band): no stop of a configuration that reached parity from 30% behind on (25% stopped one, 20% two);
# conservative keeps 40%, which stopped none there either.
RULES = {
    "conservative": EarlyStopRule("conservative", behind=0.4, after=0.3, checkpoints=1),
    "aggressive": EarlyStopRule("aggressive", behind=0.3, after=0.2, checkpoints=1),
}
EARLY_STOP_MODES = ("off", *RULES)


def early_stop_rule(mode: str) -> EarlyStopRule | None:
    """The rule of ``--early-stop MODE``; None for off."""
    if mode not in EARLY_STOP_MODES:
        raise ObjectivesInputError(f"early-stop mode {mode!r} is unknown: choose one of {', '.join(EARLY_STOP_MODES)}")
    return RULES.get(mode)


@dataclass(frozen=True)
class Fp32Curve:
    """The FP32 baseline's learning curve: mean and std over its seeds of each checkpoint's return."""

    steps: tuple[int, ...]
    means: tuple[float, ...]
    stds: tuple[float, ...] = ()
    """none: no spread"""
    parity_lower: float | None = None
    """the FP32 band's lower edge (``Fp32Band.lower``), above which no checkpoint's edge counts; None: not capped"""

    @classmethod
    def from_run_dirs(cls, run_dirs: Sequence[Path | str], parity_lower: float | None = None) -> Fp32Curve:
        """The curve band of the baseline seeds' ``curve.csv`` files (checkpoints all of them have), capped at
        ``parity_lower``."""
        curves = [read_curve(Path(run_dir)) for run_dir in run_dirs]
        steps = sorted(set.intersection(*(set(curve) for curve in curves))) if curves else []
        values = [[curve[step] for curve in curves] for step in steps]
        return cls(tuple(steps), tuple(float(np.mean(v)) for v in values), tuple(seed_std(v) for v in values), parity_lower)

    @property
    def progress(self) -> float:
        """What FP32 learned: its best checkpoint's return minus its first."""
        return max(self.means) - self.means[0] if len(self.means) >= 2 else 0.0

    def lower_edge_until(self, step: int) -> float | None:
        """The best lower edge (mean - std) of the checkpoints up to ``step``, at most ``parity_lower``, if ``step`` is a
        checkpoint."""
        if step not in self.steps:
            return None
        stds = self.stds or (0.0,) * len(self.means)
        best = max(mean - std for at, mean, std in zip(self.steps, self.means, stds) if at <= step)
        return best if self.parity_lower is None else min(best, self.parity_lower)

    def to_dict(self) -> dict:
        return {"steps": list(self.steps), "means": list(self.means), "stds": list(self.stds), "parity_lower": self.parity_lower}

    @classmethod
    def from_dict(cls, data: dict) -> Fp32Curve:
        return cls(
            tuple(int(step) for step in data["steps"]),
            tuple(float(mean) for mean in data["means"]),
            tuple(float(std) for std in data["stds"]),
            data.get("parity_lower"),
        )


def read_curve(run_dir: Path) -> dict[int, float]:
    """A run folder's learning curve: env step -> mean evaluation return."""
    with open(Path(run_dir) / "curve.csv", newline="") as f:
        return {int(row["env_step"]): float(row["return_mean"]) for row in csv.DictReader(f)}


class EarlyStopper:
    """Feeds a candidate's checkpoints one by one to a rule; says when to stop (``training.StopRule``)."""

    def __init__(self, rule: EarlyStopRule, reference: Fp32Curve, total_steps: int):
        self.rule = rule
        self.name = rule.name
        self.reference = reference
        self.total_steps = total_steps
        # a stop depends on the rule's thresholds, the FP32 curve and the training length: a cached stopped run
        # stands only for a study whose stopper has the same identity
        made_of = {"rule": asdict(rule), "reference": reference.to_dict(), "total_steps": total_steps}
        self.identity = f"{rule.name}:{hashlib.sha256(json.dumps(made_of, sort_keys=True).encode()).hexdigest()[:16]}"
        self._best = -math.inf
        self._behind_in_a_row = 0

    def state_dict(self) -> dict:
        return {"best": self._best, "behind_in_a_row": self._behind_in_a_row}

    def load_state_dict(self, state: dict) -> None:
        self._best, self._behind_in_a_row = state["best"], state["behind_in_a_row"]

    def check(self, env_step: int, mean_return: float) -> str | None:
        """Why the candidate stops at this checkpoint (its seeds' mean return), or None to go on."""
        self._best = max(self._best, mean_return)
        fp32 = self.reference.lower_edge_until(env_step)
        progress = self.reference.progress
        if fp32 is None or progress <= 0:
            return None
        behind = (fp32 - self._best) / progress
        self._behind_in_a_row = self._behind_in_a_row + 1 if behind > self.rule.behind else 0
        if env_step < self.rule.after * self.total_steps or self._behind_in_a_row < self.rule.checkpoints:
            return None
        return (
            f"{self.rule.name} rule: best return {self._best:.1f} by step {env_step} is {behind:.0%} of FP32's"
            f" learning progress ({progress:.1f}) behind the best lower edge of FP32's curve, {fp32:.1f}"
            f" (limit {self.rule.behind:.0%}), {self._behind_in_a_row} checkpoint(s) in a row"
        )
