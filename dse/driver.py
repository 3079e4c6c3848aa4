"""The study driver: ask Optuna (or a plan: the staged rule, a sweep) for candidates, train them on Ray, score them, tell Optuna.

One process drives; only it writes to the study's storage (``dse.lease`` refuses a
second driver on the same study). Every finished trial is
in the storage the moment it is told, and every finished training is in the policy
cache, so a driver killed at any moment loses nothing finished: on restart, trials
it left running are marked failed ("interrupted") and asked again, and their
trainings come from the cache where they had finished.

A sampled strategy (search, random) spends trainings only on new candidates: a
candidate already told, or training, is answered from the study (a repeat: no
training, no budget). The staged rule and sweeps train what their plan asks, as
published.

With ``--fidelity-rungs`` above 1 a sampled strategy runs asynchronous successive
halving (ASHA) across env steps: a new candidate trains to the first rung and
pauses there (its training saved at the driver, ``dse.executor``); whenever a
worker is free, the driver first promotes a paused candidate that ranks in the best
1/factor of the candidates that reached its rung, by non-dominated rank of its
return there with the hardware its designs will cost (priced before training),
highest rung first, and only otherwise asks for a new candidate. A promoted
candidate resumes, not restarts, to the next rung; at the last rung it is scored as
any trial. Asynchronous, because a rung never waits to be full: with Ray workers a
synchronous rung would leave workers idle until its slowest candidate is done. When
nothing is training and nothing can be promoted, the paused candidates are told
PRUNED, with what they reached. The trials' Optuna state while paused is RUNNING; a
restarted driver takes them back as paused.

The parts: ``dse.baseline`` (the FP32 band, before any trial), ``dse.scoring``
(what a trial records and is told), ``dse.progress`` (counts and the progress
line); this module is the loop that joins them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import moocore
import numpy as np
import optuna

from dse import scoring
from dse.acquisition import HypervolumeSearch, Observed
from dse.baseline import Baseline, train_baseline
from dse.executor import RayExecutor, TaskFailed, TrainingOutcome, cached_outcome
from dse.lease import REFRESH_SECONDS, DriverLease
from dse.progress import StudyProgress
from dse.strategies import StagedRule, Sweep
from dse.study import PARAMS, STAGED_PICK_ATTR, StudySettings, candidate_of, counts_toward_budget, feasible_points
from objectives.pareto import losses
from search_spaces import Candidate
from synthesis import FinnFailure
from synthesis.estimate import SynthesisSettings
from training import TrainSpec
from training.envs import make_env

IDLE_ASKS = 50
"""asks in a row that train nothing (repeats) after which a search stops: its sampler has settled"""


@dataclass
class _Active:
    """A trial whose trainings are under way."""

    trial: optuna.Trial
    candidate: Candidate
    specs: list[TrainSpec]
    outcomes: dict[int, TrainingOutcome] = field(default_factory=dict)
    failure: str | None = None
    repeat_of: int | None = None
    """the trial already training this candidate: this one waits on its trainings and spends nothing"""
    rung: int = 0
    """the rung its trainings are under way to (multi-fidelity), or the rung it paused at"""

    @property
    def settled(self) -> bool:
        return self.failure is not None or len(self.outcomes) == len(self.specs)

    def ordered(self) -> list[TrainingOutcome]:
        return [self.outcomes[seed] for seed in range(len(self.specs))]


def _rung_accounts(attrs: dict) -> dict[str, list]:
    """The env steps and CPU seconds of the rungs a trial reached: one entry per rung return recorded."""
    reached = len(attrs.get("rung_returns", []))
    return {name: list(attrs.get(name, []))[:reached] for name in ("rung_env_steps", "rung_cpu_seconds")}


def _rungs_spent(active: _Active, attrs: dict) -> dict:
    """A candidate's compute attributes for the rungs it reached (``attrs``: its trial's, with the rung accounting)."""
    return {
        "trainings": len(active.specs),
        "new_trainings": len(active.specs),
        "env_steps": attrs["rung_env_steps"][-1],
        "train_env_steps": attrs["rung_env_steps"][-1],
        "train_cpu_seconds": attrs["rung_cpu_seconds"][-1],
    }


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
        self._told: dict[Candidate, int] = {}  # candidate -> the trial that trained it
        self._env_dims: tuple[int, int] | None = None
        self._search: HypervolumeSearch | None = None
        self._settled = False  # the sampler asks only what is known: stop asking
        self.rungs = settings.rung_steps()
        self._paused: dict[int, _Active] = {}  # trial number -> a candidate paused at a rung, waiting for promotion
        self._rung_returns: dict[int, list[float]] = {}  # trial number -> its mean return at each rung it reached
        self._rung_candidates: dict[int, Candidate] = {}
        self._predicted: dict[Candidate, np.ndarray] = {}
        self.spent_env_steps = 0
        """env steps of every training of this study so far, all rungs (what a multi-fidelity study is charged)"""

    def baseline(self) -> Baseline:
        """The FP32 band of the env at this fidelity, and the early-stop rule: trained (through the cache) before any trial."""
        self.fp32 = train_baseline(self.settings, self.executor, self.train_cache, self.run_dir, self.log, self._refresh_lease)
        return self.fp32

    @property
    def _stop_identity(self) -> str | None:
        return self.fp32.early_stop.identity if self.fp32.early_stop else None

    @property
    def _early_stop_task(self) -> dict | None:
        """What a training task needs of the early-stop rule (it also names the training's saves)."""
        return self.fp32.early_stop.task_config if self.fp32.early_stop else None

    # ---- the loop -------------------------------------------------------------------------------
    def run(self, budget: int) -> None:
        if self.fp32 is None:
            raise RuntimeError("Driver.run needs the FP32 band: call baseline() first")
        self._budget = budget if self.planner is None else min(budget, self.planner.most_trials)
        for trial in self.study.get_trials(deepcopy=False):
            if "rung_returns" in trial.user_attrs:
                self._rung_returns[trial.number] = list(trial.user_attrs["rung_returns"])
                self._rung_candidates[trial.number] = candidate_of(trial)
                if trial.state == optuna.trial.TrialState.RUNNING:
                    self._take_back_paused(trial)
                    continue
            counted = counts_toward_budget(trial)
            self.progress.count(counted, feasible_points(trial.user_attrs, trial.values) if counted else [])
            if counted:  # a rung trial's env_steps are those of the rungs it reached
                self.spent_env_steps += trial.user_attrs.get("env_steps", 0)
                self._told.setdefault(candidate_of(trial), trial.number)
        self.progress.start_clock()
        while True:
            self._fill(budget)
            if not self._active:
                self._prune_paused()
                break
            if self._pending:
                ready = self.executor.wait(list(self._pending), timeout=REFRESH_SECONDS)
                self._refresh_lease()
                for ref in ready:
                    self._collect(ref)
            for number in [number for number, active in self._active.items() if active.settled]:
                self._finish(self._active.pop(number))
        self.log(f"trainings reused: {self.reused['cache']} from the cache, "
                 f"{self.reused['shared']} shared with another trial of this run; "
                 f"asks answered without training: {self.progress.repeats} repeats")
        if self.settings.strategy == "staged":
            self._report_staged()

    def _refresh_lease(self) -> None:
        if self.lease is not None:
            self.lease.refresh()

    def _fill(self, budget: int) -> None:
        """Start trials while a worker is free and the budget (and, for a planned strategy, the plan) allows.

        The budget counts candidates trained: a repeat costs none of it.
        After ``IDLE_ASKS`` such answers in a row, or once every candidate of the
        space is known, a sampled strategy stops asking. Under rungs, promotions
        come first and spend no budget (a candidate counts once, at its first rung).
        """
        while len(self._pending) < self.executor.workers:
            promoted = self._promotable()
            if promoted is None:
                break
            self._promote(promoted)
        idle = 0
        while not self._settled and len(self._pending) < self.executor.workers and self._spending() < budget:
            if self._chooses_itself():
                chosen = self._chosen_next()
                if chosen is None:
                    return
                self.study.enqueue_trial(chosen.params())
            trial = self.study.ask()
            if self._start(trial):
                idle = 0
                continue
            idle += 1
            if len(self._known()) >= self.settings.space.size:
                self._stop_asking("every candidate of the space is known")
            elif idle >= IDLE_ASKS:
                self._stop_asking(f"the sampler asked {idle} known candidates in a row")

    def _training(self) -> list[Candidate]:
        """Candidates training now or paused at a rung (a repeat waiting on another trial's trainings is not one more)."""
        running = [active.candidate for active in self._active.values() if active.repeat_of is None]
        return running + [active.candidate for active in self._paused.values()]

    def _known(self) -> set[Candidate]:
        """Candidates told or training: a sampled strategy never trains one of them again."""
        return set(self._told) | set(self._training())

    def _spending(self) -> int:
        """Candidates trained or training: what the budget counts."""
        return self.progress.finished + len(self._training())

    def _stop_asking(self, why: str) -> None:
        self._settled = True
        who = "random strategy" if self.settings.strategy == "random" else "search"
        self.log(f"{who} stops asking: {why} ({self.progress.finished} candidates trained)")

    def _chooses_itself(self) -> bool:
        """The strategy picks the next candidate (and enqueues it) rather than an Optuna sampler.

        The hardware-aware search does once its start-up candidates (and any trial to redo) are asked.
        """
        if self.planner is not None or self.settings.strategy == "random":
            return True
        if self.settings.sampler != "ehvi":
            return False
        return not self.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,))

    def _chosen_next(self) -> Candidate | None:
        """The plan's next candidate, or a self-choosing sampled strategy's among those not known (None: stop)."""
        if self.planner is not None:
            return self._planned_next()
        known = self._known()
        unknown = [candidate for candidate in self.settings.space.candidates() if candidate not in known]
        if not unknown:
            self._stop_asking("every candidate of the space is known")
            return None
        return self._unknown_draw(unknown) if self.settings.strategy == "random" else self._hypervolume_next(known)

    def _hypervolume_next(self, known: set[Candidate]) -> Candidate:
        """``dse.acquisition.HypervolumeSearch``'s pick from the trained candidates so far and those training."""
        observed = {}
        for trial in self.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
            if counts_toward_budget(trial):
                points = feasible_points(trial.user_attrs, trial.values)
                observed[candidate_of(trial)] = Observed(trial.values[0], losses(np.array(points, dtype=float)))
        return self._hypervolume_search().choose(observed, self._training(), known)

    def _hypervolume_search(self) -> HypervolumeSearch:
        """Built once: every candidate's designs priced before training (cached on disk by the synthesis cache)."""
        if self._search is None:
            self.log(f"pricing the designs of the space's {self.settings.space.size} candidates before training")
            predicted = {}
            for candidate in self.settings.space.candidates():
                designs = scoring.predicted_designs(candidate, self._dims(), self.synthesis, self.synth_cache)
                fitting = [[design.luts, design.latency_s, design.energy_per_action_j] for design in designs if design.fits]
                predicted[candidate] = np.array(fitting, dtype=float).reshape(-1, 3)
            self._search = HypervolumeSearch(self.settings.space, self.fp32.band, predicted, self.settings.sampler_seed)
        return self._search

    def _dims(self) -> tuple[int, int]:
        """The env's observation and action sizes, which a policy of a candidate's shape needs."""
        if self._env_dims is None:
            env = make_env(self.settings.env_id)
            self._env_dims = (env.observation_space.shape[0], env.action_space.shape[0])
            env.close()
        return self._env_dims

    def _unknown_draw(self, unknown: list[Candidate]) -> Candidate:
        """The random strategy's next candidate: uniform over those not told or training (random without replacement).

        Seeded by the sampler seed and the trials so far, so a resumed study draws on.
        """
        rng = np.random.default_rng([self.settings.sampler_seed, len(self.study.get_trials(deepcopy=False))])
        return unknown[int(rng.integers(len(unknown)))]

    def _planned_next(self) -> Candidate | None:
        running = {active.candidate for active in self._active.values()}
        plan = self.planner.plan(self._verdicts())
        wanted = [candidate for candidate in plan.wanted if candidate not in running]
        return wanted[0] if wanted else None

    def _verdicts(self) -> dict[Candidate, bool]:
        """FP32 parity of every finished candidate (also of one whose design failed); a failed training did not reach it."""
        verdicts = {}
        for trial in self.study.get_trials(deepcopy=False):
            if counts_toward_budget(trial) and len(trial.params) == len(PARAMS):
                verdicts[candidate_of(trial)] = bool(trial.user_attrs.get("parity_feasible", False))
        return verdicts

    def _start(self, trial: optuna.Trial) -> bool:
        """Answer the trial from the study, or start (or join) its trainings.

        True when it spends budget: a candidate not trained or training before.
        """
        candidate = self.settings.space.suggest(trial)
        trial.set_user_attr("label", candidate.label)
        if candidate in self._told:
            self._tell_repeat(trial, candidate, self.study.get_trials(deepcopy=False)[self._told[candidate]])
            return False
        running = next((number for number, active in self._active.items()
                        if active.candidate == candidate and active.repeat_of is None), None)  # fmt: skip
        if len(self.rungs) > 1 and candidate in self._training():
            # under rungs a candidate's trainings pause and resume: a repeat cannot wait on one answer
            original = running if running is not None else next(
                number for number, active in self._paused.items() if active.candidate == candidate)
            trial.set_user_attr("repeat_of", original)
            trial.set_user_attr("trainings", 0)
            trial.set_user_attr("fail_reason", f"repeat of trial {original}, which is still between rungs")
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            self.progress.repeats += 1
            return False
        specs = [self.settings.spec(candidate, seed) for seed in range(self.settings.seeds)]
        active = _Active(trial, candidate, specs, repeat_of=running)
        self._active[trial.number] = active
        self._submit(active)
        return running is None

    def _submit(self, active: _Active) -> None:
        """Start (or join) the trainings ``active`` lacks for its rung: to the end from the cache or Ray, or to a
        lower rung on Ray (paused trainings are not cached: their saves at the driver are)."""
        trial = active.trial
        last = active.rung == len(self.rungs) - 1
        missing = []
        for seed, spec in enumerate(active.specs):
            cached = cached_outcome(spec, self.train_cache, self._stop_identity, log=self.log) if last else None
            if cached is not None:
                active.outcomes[seed] = cached
                self.reused["cache"] += 1
                continue
            key = spec.key()
            if key not in self._ref_of:
                missing.append(spec)
            self._waiting.setdefault(key, []).append((trial.number, seed))
        until = None if last else self.rungs[active.rung]
        for group in self.executor.groups(missing):
            ref = self.executor.submit(group, self._early_stop_task, until)
            self._pending[ref] = group
            for spec in group:
                self._ref_of[spec.key()] = ref
        if active.settled:
            self._finish(self._active.pop(trial.number))

    # ---- rungs (multi-fidelity) -----------------------------------------------------------------
    def _take_back_paused(self, frozen: optuna.trial.FrozenTrial) -> None:
        """A trial a stopped driver left between rungs: paused again at the last rung it reached."""
        candidate = candidate_of(frozen)
        specs = [self.settings.spec(candidate, seed) for seed in range(self.settings.seeds)]
        rung = len(frozen.user_attrs["rung_returns"]) - 1
        trial = optuna.Trial(self.study, frozen._trial_id)
        accounts = _rung_accounts(frozen.user_attrs)
        for name, values in accounts.items():  # a driver killed while recording a rung may have left one more
            trial.set_user_attr(name, values)
        self._paused[frozen.number] = _Active(trial, candidate, specs, rung=rung)
        self.spent_env_steps += accounts["rung_env_steps"][-1]

    def _reach_rung(self, active: _Active) -> None:
        """A candidate's seeds all paused at its rung: recorded on its trial, then paused until promoted or pruned."""
        trial, outcomes, attrs = active.trial, active.ordered(), active.trial.user_attrs
        steps = self.settings.seeds * outcomes[0].env_step
        mean_return = float(np.mean([np.mean(outcome.returns) for outcome in outcomes]))
        returns = self._rung_returns.setdefault(trial.number, [])
        returns.append(mean_return)
        self._rung_candidates[trial.number] = active.candidate
        accounts = _rung_accounts(attrs)
        env_steps = accounts["rung_env_steps"] + [steps]
        self.spent_env_steps += steps - (env_steps[-2] if len(env_steps) > 1 else 0)
        cpu = round(sum(outcome.wall_seconds for outcome in outcomes) * self.executor.threads, 3)
        # rung_returns last: a trial that has it has the rest (a restarted driver takes it back from these)
        trial.set_user_attr("rung_env_steps", env_steps)
        trial.set_user_attr("rung_cpu_seconds", accounts["rung_cpu_seconds"] + [cpu])
        trial.set_user_attr("trained_on", sorted(set(attrs.get("trained_on", []))
                                                 | {outcome.node for outcome in outcomes}))  # fmt: skip
        trial.set_user_attr("rung_returns", returns)
        active.outcomes = {}
        self._paused[trial.number] = active
        self.log(f"#{trial.number} {active.candidate.label}: rung {active.rung + 1} of {len(self.rungs)} "
                 f"({outcomes[0].env_step:,} env steps): return {mean_return:.1f}")

    def _promotable(self) -> _Active | None:
        """A paused candidate in the best 1/factor of those that reached its rung (highest rung first), or None."""
        for rung in reversed(range(len(self.rungs) - 1)):
            reached = {number: returns[rung] for number, returns in self._rung_returns.items() if len(returns) > rung}
            keep = len(reached) // self.settings.fidelity_factor
            for number in self._best(reached, keep):
                active = self._paused.get(number)
                if active is not None and active.rung == rung:
                    return active
        return None

    def _best(self, returns: dict[int, float], keep: int) -> list[int]:
        """The ``keep`` trials best ranked by non-dominated sorting of their return with the hardware of their
        candidate's designs (priced before training); a candidate ranks as its best design; ties go to the higher return."""
        if keep == 0:
            return []
        numbers = list(returns)
        rows, owners = [], []
        for number in numbers:
            for design in self._designs_before_training(self._rung_candidates[number]):
                rows.append([-returns[number], *design])
                owners.append(number)
        ranks = moocore.pareto_rank(np.array(rows, dtype=float))
        best = {number: min(rank for rank, owner in zip(ranks, owners) if owner == number) for number in numbers}
        return sorted(numbers, key=lambda number: (best[number], -returns[number]))[:keep]

    def _designs_before_training(self, candidate: Candidate) -> np.ndarray:
        """LUTs, latency and energy of the candidate's designs as priced before training: those that fit, or all."""
        if candidate not in self._predicted:
            designs = scoring.predicted_designs(candidate, self._dims(), self.synthesis, self.synth_cache)
            fitting = [design for design in designs if design.fits] or designs
            self._predicted[candidate] = np.array(
                [[design.luts, design.latency_s, design.energy_per_action_j] for design in fitting], dtype=float)
        return self._predicted[candidate]

    def _promote(self, active: _Active) -> None:
        del self._paused[active.trial.number]
        active.rung += 1
        self.log(f"#{active.trial.number} {active.candidate.label}: promoted to rung {active.rung + 1}")
        self._active[active.trial.number] = active
        self._submit(active)

    def _prune_paused(self) -> None:
        """Nothing trains and nothing can be promoted: every paused candidate is told PRUNED with what it reached."""
        for number, active in sorted(self._paused.items()):
            trial = active.trial
            for name, value in {"rung_reached": active.rung + 1, **_rungs_spent(active, trial.user_attrs)}.items():
                trial.set_user_attr(name, value)
            self.study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            self.executor.forget(active.specs, self._early_stop_task)
            self.progress.count(True, [])
            self._told[active.candidate] = number
        if self._paused:
            self.log(f"{len(self._paused)} candidate(s) stopped below the last rung (told PRUNED)")
        self._paused.clear()

    def _tell_repeat(self, trial: optuna.Trial, candidate: Candidate, original: optuna.trial.FrozenTrial) -> None:
        """A candidate already told: the same answer again, with no training and no budget spent."""
        trial.set_user_attr("repeat_of", original.number)
        trial.set_user_attr("trainings", 0)
        self.progress.repeats += 1
        if original.state != optuna.trial.TrialState.COMPLETE:
            trial.set_user_attr("fail_reason", f"repeat of trial {original.number}, which failed")
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            return
        for name, value in original.constraints.items():
            trial.set_constraint(name, value)
        self.study.tell(trial, list(original.values))

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
        if active.failure is None and active.rung < len(self.rungs) - 1:
            self._reach_rung(active)
            return
        trial = active.trial
        outcomes = active.ordered() if active.failure is None else list(active.outcomes.values())
        if active.rung < len(self.rungs) - 1:
            outcomes = []  # a failure below the last rung: what the lower rungs took is in the rung accounting
        attrs = scoring.compute_attrs(outcomes, self.executor.threads, active.specs[0].total_steps)
        if len(self.rungs) > 1:
            attrs.update(self._top_rung_attrs(active, attrs))
            # its save is done with (already dropped where the task installed the runs; not where the cache held them)
            self.executor.forget(active.specs, self._early_stop_task)
        if active.repeat_of is not None:
            attrs.update(repeat_of=active.repeat_of, trainings=0, env_steps=0)
        if active.failure is None:
            attrs.update(scoring.parity_attrs(outcomes, self.fp32.band))
        for name, value in attrs.items():
            trial.set_user_attr(name, value)
        trial_score = report = None
        if active.failure is None:
            try:
                designs, report = scoring.designs(Path(attrs["policy_dir"]), self.synthesis, self.synth_cache)
            except (FinnFailure, OSError, ValueError) as error:
                active.failure = str(error).splitlines()[0] if str(error) else type(error).__name__
            else:
                trial_score, hardware = scoring.hardware_score(outcomes, self.fp32.band, report, designs)
                for name, value in hardware.items():
                    trial.set_user_attr(name, value)
        counts = active.repeat_of is None
        if trial_score is None:
            trial.set_user_attr("fail_reason", active.failure)
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            self.progress.count(counts, [])
        else:
            for name, value in trial_score.constraints().items():
                trial.set_constraint(name, value)
            self.study.tell(trial, list(trial_score.values))
            self.progress.count(counts, feasible_points(hardware, trial_score.values))
        if counts:
            self._told[active.candidate] = trial.number
        else:
            self.progress.repeats += 1
        label = f"#{trial.number} {active.candidate.label}" + ("" if counts else f" (repeat of #{active.repeat_of})")
        self.progress.trial_done(label, self._budget, trial_score, report, active.failure, attrs.get("stopped_at_step"))

    def _top_rung_attrs(self, active: _Active, attrs: dict) -> dict:
        """A multi-fidelity trial's last leg (or its failure) in its rung accounting; the study's env steps so far."""
        reached = active.trial.user_attrs
        before = reached.get("rung_env_steps", [])
        steps = attrs["env_steps"] if active.failure is None else (before[-1] if before else 0)
        self.spent_env_steps += steps - (before[-1] if before else 0)
        rung_attrs = {"rung_reached": active.rung + (active.failure is None), "spent_env_steps": self.spent_env_steps}
        if active.failure is None:
            rung_attrs["rung_env_steps"] = [*before, steps]
            rung_attrs["rung_cpu_seconds"] = [*reached.get("rung_cpu_seconds", []), attrs["train_cpu_seconds"]]
        elif before:  # the rungs it reached are charged; the leg that failed left no account
            rung_attrs.update(_rungs_spent(active, reached))
        return rung_attrs

    def _report_staged(self) -> None:
        plan = self.planner.plan(self._verdicts())
        for note in plan.notes:
            self.log(f"staged rule: {note}")
        if plan.pick is None:
            self.log(f"staged rule unfinished: stage {plan.stage} still needs {len(plan.wanted)} candidate(s); raise --budget")
            return
        self.study.set_user_attr(STAGED_PICK_ATTR, plan.pick.params())
        self.log(f"staged rule's pick: {plan.pick.label}")
