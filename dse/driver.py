"""The study driver: ask Optuna (or a plan: the staged rule, a sweep) for candidates, train them on Ray, score them, tell Optuna.

One process drives; only it writes to the study's storage (``dse.lease`` refuses a
second driver on the same study). Every finished trial is
in the storage the moment it is told, and every finished training is in the policy
cache, so a driver killed at any moment loses nothing finished: on restart, trials
it left running are marked failed ("interrupted") and asked again, and their
trainings come from the cache where they had finished.

The parts: ``dse.baseline`` (the FP32 band, before any trial), ``dse.scoring``
(what a finished trial records and is told), ``dse.progress`` (counts and the
progress line); this module is the loop that joins them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import optuna

from dse import scoring
from dse.baseline import Baseline, train_baseline
from dse.executor import RayExecutor, TaskFailed, TrainingOutcome, cached_outcome
from dse.lease import REFRESH_SECONDS, DriverLease
from dse.progress import StudyProgress
from dse.strategies import StagedRule, Sweep
from dse.study import STAGED_PICK_ATTR, StudySettings, candidate_of, counts_toward_budget
from search_spaces import Candidate
from synthesis import FinnFailure
from synthesis.estimate import SynthesisSettings
from training import TrainSpec


@dataclass
class _Active:
    """A trial whose trainings are under way."""

    trial: optuna.Trial
    candidate: Candidate
    specs: list[TrainSpec]
    outcomes: dict[int, TrainingOutcome] = field(default_factory=dict)
    failure: str | None = None

    @property
    def settled(self) -> bool:
        return self.failure is not None or len(self.outcomes) == len(self.specs)

    def ordered(self) -> list[TrainingOutcome]:
        return [self.outcomes[seed] for seed in range(len(self.specs))]


class Driver:
    """Runs a study in ``run_dir`` to its budget: ``baseline()`` first, then ``run(budget)``."""

    def __init__(
        self,
        run_dir: Path,
        settings: StudySettings,
        study: optuna.Study,
        executor: RayExecutor,
        cache_dir: Path,
        log: Callable[[str], None] = print,
        lease: DriverLease | None = None,
    ):
        self.run_dir = Path(run_dir)
        self.settings = settings
        self.study = study
        self.executor = executor
        self.train_cache = Path(cache_dir) / "train"
        self.synth_cache = Path(cache_dir) / "synth"
        self.synthesis = SynthesisSettings(**settings.synthesis)
        self.log = log
        self.lease = lease
        self.planner = {"staged": StagedRule(settings.space), "sweep": Sweep(settings.sweep)}.get(settings.strategy)
        self.fp32: Baseline | None = None
        self.progress = StudyProgress(log)
        self.reused = {"cache": 0, "shared": 0}
        """trainings trials got without training: from the cache, or from another trial of this run training them"""
        self._pending: dict = {}  # ray ref -> the specs it trains
        self._ref_of: dict[str, object] = {}  # spec key -> ray ref (one training per spec, however many trials wait)
        self._waiting: dict[str, list[tuple[int, int]]] = {}  # spec key -> (trial number, seed index)
        self._active: dict[int, _Active] = {}
        self._budget = 0

    def baseline(self) -> Baseline:
        """The FP32 band of the env at this fidelity, and the early-stop rule: trained (through the cache) before any trial."""
        self.fp32 = train_baseline(self.settings, self.executor, self.train_cache, self.run_dir, self.log, self._refresh_lease)
        return self.fp32

    @property
    def _stop_identity(self) -> str | None:
        return self.fp32.early_stop.identity if self.fp32.early_stop else None

    # ---- the loop -------------------------------------------------------------------------------
    def run(self, budget: int) -> None:
        if self.fp32 is None:
            raise RuntimeError("Driver.run needs the FP32 band: call baseline() first")
        self._budget = budget if self.planner is None else min(budget, self.planner.most_trials)
        for trial in self.study.get_trials(deepcopy=False):
            self.progress.count(trial.state, trial.values, bool(trial.user_attrs.get("feasible")), counts_toward_budget(trial))
        self.progress.start_clock()
        while True:
            self._fill(budget)
            if not self._active:
                break
            if self._pending:
                ready = self.executor.wait(list(self._pending), timeout=REFRESH_SECONDS)
                self._refresh_lease()
                for ref in ready:
                    self._collect(ref)
            for number in [number for number, active in self._active.items() if active.settled]:
                self._finish(self._active.pop(number))
        self.log(f"trainings reused: {self.reused['cache']} from the cache, "
                 f"{self.reused['shared']} shared with another trial of this run")
        if self.settings.strategy == "staged":
            self._report_staged()

    def _refresh_lease(self) -> None:
        if self.lease is not None:
            self.lease.refresh()

    def _fill(self, budget: int) -> None:
        """Start trials while a worker is free and the budget (and, for a planned strategy, the plan) allows."""
        while len(self._pending) < self.executor.workers and self.progress.finished + len(self._active) < budget:
            if self.planner is None:
                trial = self.study.ask()
            else:
                planned = self._planned_next()
                if planned is None:
                    return
                self.study.enqueue_trial(planned.params())
                trial = self.study.ask()
            self._start(trial)

    def _planned_next(self) -> Candidate | None:
        running = {active.candidate for active in self._active.values()}
        plan = self.planner.plan(self._verdicts())
        wanted = [candidate for candidate in plan.wanted if candidate not in running]
        return wanted[0] if wanted else None

    def _verdicts(self) -> dict[Candidate, bool]:
        """FP32 parity of every finished candidate (also of one whose design failed); a failed training did not reach it."""
        verdicts = {}
        for trial in self.study.get_trials(deepcopy=False):
            if counts_toward_budget(trial) and len(trial.params) == 5:
                verdicts[candidate_of(trial)] = bool(trial.user_attrs.get("parity_feasible", False))
        return verdicts

    def _start(self, trial: optuna.Trial) -> None:
        candidate = self.settings.space.suggest(trial)
        trial.set_user_attr("label", candidate.label)
        specs = [self.settings.spec(candidate, seed) for seed in range(self.settings.seeds)]
        active = _Active(trial, candidate, specs)
        self._active[trial.number] = active
        missing = []
        for seed, spec in enumerate(specs):
            cached = cached_outcome(spec, self.train_cache, self._stop_identity, log=self.log)
            if cached is not None:
                active.outcomes[seed] = cached
                self.reused["cache"] += 1
                continue
            key = spec.key()
            if key not in self._ref_of:
                missing.append(spec)
            self._waiting.setdefault(key, []).append((trial.number, seed))
        early_stop = self.fp32.early_stop.task_config if self.fp32.early_stop else None
        for group in self.executor.groups(missing):
            ref = self.executor.submit(group, early_stop)
            self._pending[ref] = group
            for spec in group:
                self._ref_of[spec.key()] = ref
        if active.settled:
            self._finish(self._active.pop(trial.number))

    def _collect(self, ref) -> None:
        """A finished task's runs into the cache and to the trials waiting for them (or its failure).

        The first trial still waiting on a training is charged for it; the others
        get it as a reused training, so compute is counted once.
        """
        group = self._pending.pop(ref)
        keys = [spec.key() for spec in group]
        outcomes, failure = {}, None
        try:
            outcomes = dict(zip(keys, self.executor.outcomes(ref, group, self.train_cache)))
        except TaskFailed as error:
            failure = str(error)
        for key in keys:
            del self._ref_of[key]
            charged = False
            for number, seed in self._waiting.pop(key):
                active = self._active.get(number)
                if active is None:  # a trial that failed on another of its trainings
                    continue
                if key in outcomes:
                    active.outcomes[seed] = dataclasses.replace(outcomes[key], trained=False) if charged else outcomes[key]
                    self.reused["shared"] += charged
                    charged = True
                elif active.failure is None:
                    active.failure = failure

    def _finish(self, active: _Active) -> None:
        """Record the trial's compute and parity verdict, then build its design; tell Optuna the score or the failure.

        The verdict is in the storage before the design is built: a design that
        fails, or a driver stopped during synthesis, leaves it for the staged rule.
        """
        trial = active.trial
        outcomes = active.ordered() if active.failure is None else list(active.outcomes.values())
        attrs = scoring.compute_attrs(outcomes, self.executor.threads, active.specs[0].total_steps)
        if active.failure is None:
            attrs.update(scoring.parity_attrs(outcomes, self.fp32.band))
        for name, value in attrs.items():
            trial.set_user_attr(name, value)
        trial_score = report = None
        if active.failure is None:
            try:
                report = scoring.design(active.candidate, Path(attrs["policy_dir"]), self.synthesis, self.synth_cache)
            except (FinnFailure, OSError, ValueError) as error:
                active.failure = str(error).splitlines()[0] if str(error) else type(error).__name__
            else:
                trial_score, hardware = scoring.hardware_score(outcomes, self.fp32.band, report)
                for name, value in hardware.items():
                    trial.set_user_attr(name, value)
        if trial_score is None:
            trial.set_user_attr("fail_reason", active.failure)
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            self.progress.count(optuna.trial.TrialState.FAIL, None, False, True)
        else:
            for name, value in trial_score.constraints().items():
                trial.set_constraint(name, value)
            self.study.tell(trial, list(trial_score.values))
            self.progress.count(optuna.trial.TrialState.COMPLETE, trial_score.values, trial_score.feasible, True)
        label = f"#{trial.number} {active.candidate.label}"
        self.progress.trial_done(label, self._budget, trial_score, report, active.failure, attrs.get("stopped_at_step"))

    def _report_staged(self) -> None:
        plan = self.planner.plan(self._verdicts())
        for note in plan.notes:
            self.log(f"staged rule: {note}")
        if plan.pick is None:
            self.log(f"staged rule unfinished: stage {plan.stage} still needs {len(plan.wanted)} candidate(s); raise --budget")
            return
        self.study.set_user_attr(STAGED_PICK_ATTR, plan.pick.params())
        self.log(f"staged rule's pick: {plan.pick.label}")
