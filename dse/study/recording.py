"""A settled trial into the study: its compute and parity verdict, then its designs and score; Optuna told the score
or the failure.

The verdict is in the storage before the design is built: a design that fails, or
a driver stopped during synthesis, leaves it for the staged rule.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import optuna

from dse.storage.trials import feasible_points
from dse.study import scoring
from dse.study.pool import ActiveTrial, TrainingPool
from dse.study.progress import StudyProgress
from dse.study.rungs import Rungs
from objectives import Fp32Band
from objectives.score import TrialScore
from synthesis import FinnFailure
from synthesis.estimate import SynthesisSettings


class TrialRecorder:
    """Records settled trials (the last rung's, or a failure at any rung) and tells Optuna."""

    def __init__(self, study: optuna.Study, synthesis: SynthesisSettings, synth_cache: Path, band: Fp32Band,
                 pool: TrainingPool, rungs: Rungs, progress: StudyProgress, designs: Callable | None = None):  # fmt: skip
        self.study = study
        self.synthesis = synthesis
        self.synth_cache = synth_cache
        self.band = band
        self.pool = pool
        self.rungs = rungs
        self.progress = progress
        self.designs = designs

    def record(self, active: ActiveTrial, budget: int) -> None:
        """Compute, verdict, designs and score of ``active``'s trial into the study, and the progress line."""
        outcomes = active.ordered() if active.failure is None else list(active.outcomes.values())
        if not self.rungs.is_last(active.rung):
            outcomes = []  # a failure below the last rung: what the lower rungs took is in the rung accounting
        attrs = self._compute(active, outcomes)
        for name, value in attrs.items():
            active.trial.set_user_attr(name, value)
        trial_score = report = None
        points: list = []
        if active.failure is None:
            try:
                price = self.designs or scoring.designs  # looked up now: a test may have replaced it
                designs, report = price(Path(attrs["policy_dir"]), self.synthesis, self.synth_cache)
            except (FinnFailure, OSError, ValueError) as error:
                active.failure = str(error).splitlines()[0] if str(error) else type(error).__name__
            else:
                trial_score, hardware = scoring.hardware_score(outcomes, self.band, report, designs)
                for name, value in hardware.items():
                    active.trial.set_user_attr(name, value)
                points = feasible_points(hardware, trial_score.values)
        self._tell(active, trial_score, points)
        counts = active.repeat_of is None
        label = f"#{active.trial.number} {active.candidate.label}" + ("" if counts else f" (repeat of #{active.repeat_of})")
        self.progress.trial_done(label, budget, trial_score, report, active.failure, attrs.get("stopped_at_step"))

    def _compute(self, active: ActiveTrial, outcomes: list) -> dict:
        """What the trial's trainings took (under rungs: its rung accounting) and, when they finished, its verdict."""
        attrs = scoring.compute_attrs(outcomes, self.pool.executor.threads, active.specs[0].total_steps)
        if self.rungs.on:
            attrs.update(self.rungs.last_leg(active, attrs))
            # its save is done with (already dropped where the task installed the runs; not where the cache held them)
            self.pool.forget(active.specs)
        if active.repeat_of is not None:
            attrs.update(repeat_of=active.repeat_of, trainings=0, env_steps=0)
        if active.failure is None:
            attrs.update(scoring.parity_attrs(outcomes, self.band))
        return attrs

    def _tell(self, active: ActiveTrial, trial_score: TrialScore | None, points: list) -> None:
        """Optuna told the score (with its constraints) or the failure; the trial into the running counts."""
        trial, counts = active.trial, active.repeat_of is None
        if trial_score is None:
            trial.set_user_attr("fail_reason", active.failure)
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            self.progress.count(counts, [])
        else:
            for name, value in trial_score.constraints().items():
                trial.set_constraint(name, value)
            self.study.tell(trial, list(trial_score.values))
            self.progress.count(counts, points)
        if not counts:
            self.progress.repeats += 1
