"""Running counts of a study (budget, feasible trials, the Pareto front) and its one-line-per-trial progress.

Counted as trials finish rather than re-read from the storage, whose reads grow with the study.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from objectives import TrialScore
from objectives.pareto import RunningFront
from synthesis.report import HardwareReport, nanojoules


class StudyProgress:
    """What the driver tells the user after every trial: ``[done/budget] #n candidate: outcome | counts | time``."""

    def __init__(self, log: Callable[[str], None]):
        self.log = log
        self.finished = 0
        """trials that count toward the budget"""
        self.feasible = 0
        """trained candidates with a feasible design"""
        self.front = RunningFront()
        """over every feasible design of the trained candidates"""
        self.repeats = 0
        """asks of a candidate already told or training, answered without training"""
        self._finished_here = 0
        self._started = time.perf_counter()

    def start_clock(self) -> None:
        """Time per trial counts trials only, not the baseline before them."""
        self._started = time.perf_counter()

    def count(self, counts: bool, points: list) -> None:
        """One finished trial into the counts: budget, feasible candidates, the Pareto front of their designs.

        ``counts``: it spent budget (a trained candidate, not a repeat);
        ``points``: the objective vectors of its feasible designs.
        """
        self.finished += counts
        if counts and points:
            self.feasible += 1
            for values in points:
                self.front.add(values)

    def trial_done(
        self, label: str, budget: int, trial_score: TrialScore | None, report: HardwareReport | None, failure: str | None,
        stopped_at: int | None,
    ) -> None:
        self._finished_here += 1
        per_trial = (time.perf_counter() - self._started) / self._finished_here
        if trial_score is None:
            outcome = f"FAILED: {failure}"
        else:
            reasons = (
                (f"stopped early at step {stopped_at}", trial_score.stopped_early),
                ("parity", not trial_score.parity.feasible),
                ("fit", not trial_score.fits),
            )
            verdict = "feasible" if trial_score.feasible else "infeasible (" + ", ".join(
                reason for reason, bad in reasons if bad
            ) + ")"
            energy = "" if report.energy_per_action_j is None else f" {nanojoules(report.energy_per_action_j)}"
            outcome = (
                f"return {trial_score.values[0]:.1f} (parity {trial_score.parity.margin:+.1f}) "
                f"{report.luts:,} LUT {report.latency_s * 1e6:.2f} us{energy} {verdict}"
            )
        done = self.finished
        eta = f", ETA {duration(per_trial * (budget - done))}" if budget > done else ""
        self.log(
            f"[{done}/{budget}] {label}: {outcome} | feasible {self.feasible}, front {len(self.front)} | "
            f"{per_trial:.1f} s/trial{eta}"
        )


def duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours >= 48:
        return f"{hours / 24:.1f} days"
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"
