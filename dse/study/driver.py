"""The study driver: ask for candidates (a proposer or Optuna's sampler), train them on Ray, score them, tell Optuna.

One process drives; only it writes to the study's storage (``dse.storage.lease``
refuses a second driver on the same study). Every finished trial is in the storage
the moment it is told, and every finished training is in the policy cache, so a
driver killed at any moment loses nothing finished: on restart, trials it left
running are marked failed ("interrupted") and asked again, and their trainings come
from the cache where they had finished; trials it left paused at a rung are taken
back as paused.

``run`` reads top-down: restore what the storage holds, then until nothing is under
way: promote paused candidates, ask for new ones, wait for trainings, record the
trials they settle; then wrap up. The parts: ``baseline`` (the FP32 band, before any
trial), ``pool`` (trainings on Ray), ``asking`` (asking and admission),
``dse.strategies.proposers`` (who picks), ``rungs`` (successive halving),
``recording`` (a settled trial into the study), ``pricing`` (designs before training).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import optuna

from dse.storage.lease import DriverLease
from dse.storage.settings import STAGED_PICK_ATTR, StudySettings
from dse.storage.trials import candidate_of, counts_toward_budget, feasible_points
from dse.strategies.proposers import PlanProposer, proposer_for, verdicts
from dse.study.asking import Asker, StudyState
from dse.study.baseline import Baseline, train_baseline
from dse.study.executor import RayExecutor
from dse.study.pool import ActiveTrial, TrainingPool
from dse.study.pricing import HardwarePricer
from dse.study.progress import StudyProgress
from dse.study.racing import SeedRace
from dse.study.recording import TrialRecorder
from dse.study.rungs import Rungs
from synthesis.estimate import SynthesisSettings


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
        designs: Callable | None = None,
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
        self.designs = designs
        """a trained policy's designs (``scoring.designs``'s signature); None: ``scoring.designs``"""
        self.pricer = HardwarePricer(settings.env_id, self.synthesis, self.synth_cache)
        self.progress = StudyProgress(log)
        self.fp32: Baseline | None = None
        self._budget = 0

    def baseline(self) -> Baseline:
        """The FP32 band of the env at this fidelity, and the early-stop rule: trained (through the cache) before any trial."""
        self.fp32 = train_baseline(self.settings, self.executor, self.train_cache, self.run_dir, self.log, self._refresh_lease)
        return self.fp32

    def run(self, budget: int) -> None:
        if self.fp32 is None:
            raise RuntimeError("Driver.run needs the FP32 band: call baseline() first")
        self._assemble()
        self._budget = budget if not isinstance(self.proposer, PlanProposer) else min(budget, self.proposer.planner.most_trials)
        self._restore()
        self.progress.start_clock()
        while True:
            self._promote()
            self.asker.fill(budget, lambda: self.pool.has_free_worker)
            if not self.state.active:
                self._prune_paused()
                break
            self._collect()
            self._record_settled()
        self._wrap_up()

    def _assemble(self) -> None:
        """The loop's parts, once the FP32 band (and with it the early-stop rule) is known."""
        self.pool = TrainingPool(self.executor, self.train_cache, self.fp32.early_stop, self.log)
        self.rungs = Rungs(self.settings, self.study, self.pool, self.pricer, self.log)
        self.race = SeedRace(self.settings, self.study, self.fp32.band, self.fp32.seed_returns, self.pricer,
                             self.designs)
        self.state = StudyState(self.progress, self.rungs)
        self.proposer = proposer_for(self.settings, self.study, self.fp32.band, self.pricer.fitting, self.log)
        self.asker = Asker(self.settings, self.study, self.proposer, self.state, self._start, self.log)
        self.recorder = TrialRecorder(self.study, self.synthesis, self.synth_cache, self.fp32.band, self.pool, self.rungs,
                                      self.progress, self.designs)  # fmt: skip

    def _restore(self) -> None:
        """The state of a study the storage holds: counts, candidates told, env steps spent, candidates paused at a rung."""
        for trial in self.study.get_trials(deepcopy=False):
            if self.rungs.restore(trial):
                continue
            counted = counts_toward_budget(trial)
            self.progress.count(counted, feasible_points(trial.user_attrs, trial.values) if counted else [])
            if counted:  # a rung trial's env_steps are those of the rungs it reached
                self.rungs.spent_env_steps += trial.user_attrs.get("env_steps", 0)
                self.state.told.setdefault(candidate_of(trial), trial.number)

    def _refresh_lease(self) -> None:
        if self.lease is not None:
            self.lease.refresh()

    def _promote(self) -> None:
        """Under rungs, promotions come first and spend no budget (a candidate counts once, at its first rung)."""
        while self.pool.has_free_worker:
            promoted = self.rungs.promotable()
            if promoted is None:
                break
            self.rungs.promote(promoted)
            self._launch(promoted)

    def _start(self, active: ActiveTrial) -> None:
        """A trial the asker admitted: under seed racing it trains its first seeds only."""
        self.race.start(active)
        self._launch(active)

    def _launch(self, active: ActiveTrial) -> None:
        """Start (or join) the trainings ``active`` lacks for its rung and seeds; a trial the cache settles at once is
        recorded."""
        self.state.active[active.trial.number] = active
        self.pool.submit(active, self.rungs.until(active.rung))
        if active.settled:
            self._finish(self.state.active.pop(active.trial.number))

    def _collect(self) -> None:
        """Wait (at most the lease's refresh interval) for trainings, and hand what finished to the trials waiting."""
        if not self.pool.busy:
            return
        ready = self.pool.wait()
        self._refresh_lease()
        for ref in ready:
            self.pool.collect(ref, self.state.active)

    def _record_settled(self) -> None:
        for number in [number for number, active in self.state.active.items() if active.settled]:
            self._finish(self.state.active.pop(number))

    def _finish(self, active: ActiveTrial) -> None:
        """A settled trial: paused at its rung, or recorded and told."""
        if active.failure is None and not self.rungs.is_last(active.rung):
            self.rungs.reach(active, self.executor.threads)
            return
        if active.failure is None and self.race.racing(active):
            reason = self.race.verdict(active, self.progress.front)
            if reason is None:  # uncertain: its other seeds are trained too
                self._launch(active)
                return
            active.trial.set_user_attr("raced_out", reason)
            self.pool.forget(active.specs[active.wanted:])  # saves a killed driver's run may have left of the rest
            self.log(f"#{active.trial.number} {active.candidate.label}: {reason}")
        self.recorder.record(active, self._budget)
        if active.repeat_of is None:
            self.state.told[active.candidate] = active.trial.number

    def _prune_paused(self) -> None:
        for active in self.rungs.prune():
            self.progress.count(True, [])
            self.state.told[active.candidate] = active.trial.number

    def _wrap_up(self) -> None:
        self.log(f"trainings reused: {self.pool.reused['cache']} from the cache, "
                 f"{self.pool.reused['shared']} shared with another trial of this run; "
                 f"asks answered without training: {self.progress.repeats} repeats")
        if self.settings.strategy == "staged":
            self._report_staged()

    def _report_staged(self) -> None:
        plan = self.proposer.planner.plan(verdicts(self.study))
        for note in plan.notes:
            self.log(f"staged rule: {note}")
        if plan.pick is None and plan.stage <= 3:
            self.log(f"staged rule unfinished: stage {plan.stage} still needs {len(plan.wanted)} candidate(s); raise --budget")
            return
        if plan.pick is None:
            self.log("staged rule ended without a pick")
            return
        self.study.set_user_attr(STAGED_PICK_ATTR, plan.pick.params())
        self.log(f"staged rule's pick: {plan.pick.label}")
