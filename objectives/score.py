"""The objective vector a trial reports and the constraints that make it feasible."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from objectives.parity import Fp32Band, ParityVerdict, parity


@dataclass(frozen=True)
class Objective:
    name: str
    """key in trial records and reports"""
    direction: str
    """"maximize" or "minimize", as Optuna spells it"""
    title: str
    """axis title in reports"""


OBJECTIVES = (
    Objective("mean_return", "maximize", "mean return"),
    Objective("luts", "minimize", "LUTs"),
    Objective("latency_s", "minimize", "latency (s)"),
    Objective("energy_j", "minimize", "energy per action (J)"),
)
DIRECTIONS = tuple(objective.direction for objective in OBJECTIVES)
"""A study's objectives are these, or the first three where its device's energy is not estimated (Lattice parts):
a vector of either length is in this order."""


def objectives_for(energy: bool) -> tuple[Objective, ...]:
    """The objectives of a study whose designs' energy is estimated (``energy``) or not."""
    return OBJECTIVES if energy else OBJECTIVES[:-1]

CONSTRAINTS = ("parity", "fits", "trained")
"""constraint names; a trial is feasible when every constraint value is <= 0 (Optuna's convention)"""


@dataclass(frozen=True)
class TrialScore:
    """What one candidate scored: the objective vector and its two feasibility tests."""

    values: tuple[float, ...]
    """in the order of OBJECTIVES (without energy where it is not estimated)"""
    parity: ParityVerdict
    fits: bool
    """the design fits the device"""
    stopped_early: bool = False
    """an early-stop rule ended its training: it was out of reach of parity, whatever its partial return says"""

    @property
    def feasible(self) -> bool:
        return self.parity.feasible and self.fits and not self.stopped_early

    def constraints(self) -> dict[str, float]:
        """Parity: minus the margin (the band's lower edge minus the score); fit: 0 when it fits, else 1;
        trained: 0 when its training ran to the end, 1 when it was stopped early."""
        return {
            "parity": -self.parity.margin,
            "fits": 0.0 if self.fits else 1.0,
            "trained": 1.0 if self.stopped_early else 0.0,
        }


def score(
    seed_returns: list[float],
    band: Fp32Band,
    luts: int,
    latency_s: float,
    energy_j: float | None,
    fits: bool,
    stopped_early: bool = False,
) -> TrialScore:
    """Score a candidate from its seeds' mean returns and its hardware figures (``energy_j`` None: not estimated)."""
    verdict = parity(seed_returns, band)
    energy = () if energy_j is None else (float(energy_j),)
    values = (float(np.mean(seed_returns)), float(luts), float(latency_s), *energy)
    return TrialScore(values, verdict, fits, stopped_early)
