"""The study driver: ask Optuna (or a plan: the staged rule, a sweep) for candidates, train them on Ray, score them, tell Optuna.

One process drives; only it writes to the study's storage (``dse.lease`` refuses a
second driver on the same study). Every finished trial is
in the storage the moment it is told, and every finished training is in the policy
cache, so a driver killed at any moment loses nothing finished: on restart, trials
it left running are marked failed ("interrupted") and asked again, and their
trainings come from the cache where they had finished.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import optuna

from dse.executor import RayExecutor, TaskFailed, TrainingOutcome, cached_outcome
from dse.lease import REFRESH_SECONDS, DriverLease
from dse.strategies import StagedRule, Sweep
from dse.study import StudySettings, candidate_of, counts_toward_budget
from objectives import Fp32Band, TrialScore, score
from objectives.early_stop import Fp32Curve
from objectives.pareto import RunningFront
from search_spaces import Candidate
from synthesis import FinnFailure, lower_qonnx
from synthesis.estimate import HardwareReport, SynthesisSettings, Synthesizer
from training import TrainSpec

BASELINE_FILE = "baseline.json"
STAGED_PICK_ATTR = "staged_pick"


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
        self.band: Fp32Band | None = None
        self._early_stop: dict | None = None  # the rule's mode and FP32 curve, once the baseline is known
        self._pending: dict = {}  # ray ref -> the specs it trains
        self._ref_of: dict[str, object] = {}  # spec key -> ray ref (one training per spec, however many trials wait)
        self._waiting: dict[str, list[tuple[int, int]]] = {}  # spec key -> (trial number, seed index)
        self._active: dict[int, _Active] = {}
        self._finished_here = 0
        # counted as trials finish rather than re-read from the storage, whose reads grow with the study
        self._finished = 0
        self._feasible = 0
        self._front = RunningFront()
        self._started = 0.0
        self._budget: int | None = None

    # ---- the FP32 baseline -------------------------------------------------------------------
    def baseline(self) -> Fp32Band:
        """The FP32 band of the env at this fidelity: trained (through the cache) before any trial."""
        specs = self.settings.baseline_specs()
        outcomes: dict[int, TrainingOutcome] = {}
        for seed, spec in enumerate(specs):
            cached = cached_outcome(spec, self.train_cache, log=self.log)
            if cached is not None:
                outcomes[seed] = cached
        missing = [spec for spec in specs if spec.seed not in outcomes]
        groups = self.executor.groups(missing, parts=self.executor.workers)
        refs = {self.executor.submit(group): group for group in groups}
        if refs:
            self.log(f"training the FP32 baseline: {len(missing)} of {len(specs)} seeds (not counted in the budget)")
        while refs:
            ready = self.executor.wait(list(refs), timeout=REFRESH_SECONDS)
            self._refresh_lease()
            for ref in ready:
                group = refs.pop(ref)
                try:
                    installed = self.executor.outcomes(ref, group, self.train_cache)
                    outcomes.update((spec.seed, outcome) for spec, outcome in zip(group, installed))
                except TaskFailed as error:
                    raise TaskFailed(f"the FP32 baseline of {self.settings.env_id} cannot be trained: {error}") from None
        seed_returns = [outcomes[seed].mean_return for seed in range(len(specs))]
        self.band = Fp32Band.from_seed_returns(seed_returns)
        self._early_stop = self._early_stop_rule([outcomes[seed].run_dir for seed in range(len(specs))])
        record = {
            "env_id": self.settings.env_id,
            "width": self.settings.baseline_width,
            **self.band.to_dict(),
            "seed_returns": seed_returns,
            "trainings": sum(outcome.trained for outcome in outcomes.values()),
            "train_cpu_seconds": self.executor.threads * sum(o.wall_seconds for o in outcomes.values() if o.trained),
            "train_env_steps": sum(o.env_steps for o in outcomes.values() if o.trained),
            "trained_on": sorted({o.node for o in outcomes.values() if o.trained}),
            "policy_dirs": [outcomes[seed].run_dir for seed in range(len(specs))],
        }
        previous = self.run_dir / BASELINE_FILE
        if previous.exists():
            # summed over the invocations of this study: a resumed one finds the baseline cached and adds nothing
            old = json.loads(previous.read_text())
            record["trainings"] += old.get("trainings", 0)
            record["train_cpu_seconds"] += old.get("train_cpu_seconds", 0.0)
            record["train_env_steps"] += old.get("train_env_steps", 0)
            record["trained_on"] = sorted(set(record["trained_on"]) | set(old.get("trained_on", [])))
        previous.write_text(json.dumps(record, indent=2))
        self.log(f"FP32 band of {self.settings.env_id}: {self.band.mean:.1f} +- {self.band.std:.1f} over {self.band.seeds} seeds")
        return self.band

    def _early_stop_rule(self, baseline_dirs: list[str]) -> dict | None:
        """What the training tasks need of the study's early-stop rule: its mode and the FP32 curve."""
        mode = self.settings.early_stop
        if mode == "off":
            return None
        reference = Fp32Curve.from_run_dirs(baseline_dirs)
        if len(reference.steps) < 2:
            self.log(f"early stopping ({mode}) is off for this study: it needs evaluation checkpoints (--eval-every > 0)")
            return None
        return {"mode": mode, "reference": reference.to_dict()}

    @property
    def _early_stop_mode(self) -> str:
        return self._early_stop["mode"] if self._early_stop else "off"

    # ---- the loop -------------------------------------------------------------------------------
    def run(self, budget: int) -> None:
        if self.band is None:
            raise RuntimeError("Driver.run needs the FP32 band: call baseline() first")
        self._budget = budget
        for trial in self.study.get_trials(deepcopy=False):
            self._count(trial.state, trial.values, bool(trial.user_attrs.get("feasible")), counts_toward_budget(trial))
        self._started = time.perf_counter()  # time per trial counts trials only, not the baseline
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
        if self.settings.strategy == "staged":
            self._report_staged()

    def _refresh_lease(self) -> None:
        if self.lease is not None:
            self.lease.refresh()

    def _fill(self, budget: int) -> None:
        """Start trials while a worker is free and the budget (and, for a planned strategy, the plan) allows."""
        while len(self._pending) < self.executor.workers and self._finished + len(self._active) < budget:
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
        """FP32 parity of every finished candidate; a training that failed did not reach parity."""
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
            cached = cached_outcome(spec, self.train_cache, self._early_stop_mode, log=self.log)
            if cached is not None:
                active.outcomes[seed] = cached
                continue
            key = spec.key()
            if key not in self._ref_of:
                missing.append(spec)
            self._waiting.setdefault(key, []).append((trial.number, seed))
        for group in self.executor.groups(missing):
            ref = self.executor.submit(group, self._early_stop)
            self._pending[ref] = group
            for spec in group:
                self._ref_of[spec.key()] = ref
        if active.settled:
            self._finish(self._active.pop(trial.number))

    def _collect(self, ref) -> None:
        """A finished task's runs into the cache and to the trials waiting for them (or its failure)."""
        group = self._pending.pop(ref)
        keys = [spec.key() for spec in group]
        outcomes, failure = {}, None
        try:
            outcomes = dict(zip(keys, self.executor.outcomes(ref, group, self.train_cache)))
        except TaskFailed as error:
            failure = str(error)
        for key in keys:
            del self._ref_of[key]
            for number, seed in self._waiting.pop(key):
                active = self._active.get(number)
                if active is None:
                    continue
                if key in outcomes:
                    active.outcomes[seed] = outcomes[key]
                elif active.failure is None:
                    active.failure = failure

    def _finish(self, active: _Active) -> None:
        trial = active.trial
        new = [outcome for outcome in active.outcomes.values() if outcome.trained]
        trial.set_user_attr("new_trainings", len(new))
        # CPU time: each training holds ``threads`` cores for its wall time
        trial.set_user_attr("train_cpu_seconds", round(sum(outcome.wall_seconds for outcome in new) * self.executor.threads, 3))
        trial.set_user_attr("train_env_steps", sum(outcome.env_steps for outcome in new))
        trial.set_user_attr("trained_on", sorted({outcome.node for outcome in new}))
        stops = [outcome.stopped_early for outcome in active.outcomes.values() if outcome.stopped_early]
        if stops:
            trial.set_user_attr("stopped_early", stops[0]["reason"])
            trial.set_user_attr("stopped_at_step", stops[0]["env_step"])
        full_steps = active.specs[0].total_steps
        trial.set_user_attr("env_steps_saved", sum(full_steps - outcome.env_steps for outcome in new))
        if active.failure is None:
            try:
                trial_score, report = self._score(active)
            except (FinnFailure, OSError, ValueError) as error:
                active.failure = str(error).splitlines()[0] if str(error) else type(error).__name__
        if active.failure is not None:
            trial.set_user_attr("fail_reason", active.failure)
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            self._count(optuna.trial.TrialState.FAIL, None, False, True)
            self._progress(active, None, None)
            return
        for name, value in trial_score.constraints().items():
            trial.set_constraint(name, value)
        self.study.tell(trial, list(trial_score.values))
        self._count(optuna.trial.TrialState.COMPLETE, trial_score.values, trial_score.feasible, True)
        self._progress(active, trial_score, report)

    def _count(self, state: optuna.trial.TrialState, values, feasible: bool, counts: bool) -> None:
        """One finished trial into the running counts: budget, feasible trials, Pareto front (Optuna's best_trials)."""
        self._finished += counts
        if state == optuna.trial.TrialState.COMPLETE and feasible:
            self._feasible += 1
            self._front.add(values)

    def _score(self, active: _Active) -> tuple[TrialScore, HardwareReport]:
        seed_returns = [active.outcomes[seed].mean_return for seed in range(len(active.specs))]
        deployed_seed = int(np.argmax(seed_returns))
        report = self._design(active.candidate, Path(active.outcomes[deployed_seed].run_dir))
        stopped = any(outcome.stopped_early for outcome in active.outcomes.values())
        trial_score = score(
            seed_returns, self.band, report.luts, report.latency_s, report.energy_per_action_j, report.fits, stopped
        )
        trial = active.trial
        attrs = {
            "seed_returns": seed_returns,
            "return_std": float(np.std(seed_returns)),
            "parity_margin": trial_score.parity.margin,
            "parity_feasible": trial_score.parity.feasible and not stopped,
            "fits": report.fits,
            "over": "; ".join(report.over),
            "feasible": trial_score.feasible,
            "bram36": report.bram36,
            "dsps": report.dsps,
            "throughput_fps": report.throughput_fps,
            "latency_cycles": report.latency_cycles,
            "power_w": report.power_w,
            "design_target_fps": report.target_fps,
            "deployed_seed": deployed_seed,
            "policy_dir": active.outcomes[deployed_seed].run_dir,
            "policy_dirs": [active.outcomes[seed].run_dir for seed in range(len(active.specs))],
            "folding_config": report.folding(),
        }
        for name, value in attrs.items():
            trial.set_user_attr(name, value)
        return trial_score, report

    def _design(self, candidate: Candidate, policy_dir: Path) -> HardwareReport:
        """The candidate's design: its throughput target's, or the highest target's that fits (SPEC section 6)."""
        synthesizer = Synthesizer(lower_qonnx(policy_dir / "policy.onnx"), self.synthesis, cache_dir=self.synth_cache)
        if candidate.target_fps is not None:
            return synthesizer.at_target(candidate.target_fps)
        reports, chosen = synthesizer.sweep()
        # nothing fits: the slowest, smallest design stands for the candidate, marked as not fitting
        return chosen if chosen is not None else reports[0]

    # ---- progress -------------------------------------------------------------------------------
    def _progress(self, active: _Active, trial_score: TrialScore | None, report: HardwareReport | None) -> None:
        budget = self._budget if self.planner is None else min(self._budget, self.planner.most_trials)
        self._finished_here += 1
        done, feasible, front = self._finished, self._feasible, len(self._front)
        per_trial = (time.perf_counter() - self._started) / self._finished_here
        label = f"#{active.trial.number} {active.candidate.label}"
        if trial_score is None:
            outcome = f"FAILED: {active.failure}"
        else:
            reasons = (
                (f"stopped early at step {active.trial.user_attrs.get('stopped_at_step')}", trial_score.stopped_early),
                ("parity", not trial_score.parity.feasible),
                ("fit", not trial_score.fits),
            )
            verdict = "feasible" if trial_score.feasible else "infeasible (" + ", ".join(
                reason for reason, bad in reasons if bad
            ) + ")"
            outcome = (
                f"return {trial_score.values[0]:.1f} (parity {trial_score.parity.margin:+.1f}) "
                f"{report.luts:,} LUT {report.latency_s * 1e6:.2f} us {report.energy_per_action_j * 1e9:.1f} nJ {verdict}"
            )
        eta = f", ETA {_duration(per_trial * (budget - done))}" if budget > done else ""
        self.log(f"[{done}/{budget}] {label}: {outcome} | feasible {feasible}, front {front} | {per_trial:.1f} s/trial{eta}")

    def _report_staged(self) -> None:
        plan = self.planner.plan(self._verdicts())
        for note in plan.notes:
            self.log(f"staged rule: {note}")
        if plan.pick is None:
            self.log(f"staged rule unfinished: stage {plan.stage} still needs {len(plan.wanted)} candidate(s); raise --budget")
            return
        self.study.set_user_attr(STAGED_PICK_ATTR, plan.pick.params())
        self.log(f"staged rule's pick: {plan.pick.label}")


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"
