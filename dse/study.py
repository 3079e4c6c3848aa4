"""The Optuna side of a study: its settings record, sampler, storage, and the trials read back as records."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy

from dse import credentials, journal
from objectives import DIRECTIONS, OBJECTIVES
from objectives.early_stop import early_stop_rule
from search_spaces import Candidate, SearchSpace
from synthesis import HARDWARE_MODEL_VERSION
from training import RESULTS_VERSION, PolicyConfig, TrainSpec

SAMPLERS = ("tpe", "nsga2", "gp", "random", "ehvi")
"""Optuna's samplers, and ``dse.acquisition``'s hardware-aware search (its picks are enqueued)"""
STARTUPS = ("staged", "space-filling", "random")
"""how a search opens: the staged rule's first sweep, a Latin hypercube on the grid, or Optuna's random start-up"""
SAMPLED = ("search", "random")
"""strategies whose candidates an Optuna sampler draws"""
PLANNED = ("staged", "sweep")
"""strategies whose candidates a plan (``dse.strategies``) fixes; their trials are enqueued"""
SETTINGS_ATTR = "dse_settings"
STAGED_PICK_ATTR = "staged_pick"
BASELINE_FILE = "baseline.json"
METRIC_NAMES = tuple(objective.title for objective in OBJECTIVES)
"""the objectives as Optuna's dashboard and ``study.metric_names`` show them"""
INTERRUPTED = "interrupted: the driver stopped before the trial finished; it is redone"
SEARCH_VERSION = 2
"""how a study asks and scores: 1, folding was a search axis and a trial one design; 2, every trained policy is
mapped at every throughput target, and repeats are answered without training"""


REJECTED_BEFORE_TRAINING = "rejected_before_training"
"""the attribute of a trial that hardware model 2 and before told infeasible from its shape alone, without training (the
DSPs then were no pool, and a candidate could fit nowhere); read so that such a study's reports stay right"""


class StudyInputError(ValueError):
    """A study that cannot be started or continued as asked: the message names the value and what is allowed."""


@dataclass(frozen=True)
class StudySettings:
    """Everything that fixes what a study's trials mean; a resumed study must ask for the same."""

    env_id: str
    """gymnasium id of the task"""
    strategy: str
    """"search" (an Optuna sampler), "staged" (SPEC section 5) or "random" """
    sampler: str
    """Optuna sampler of the search strategy"""
    sampler_seed: int
    """seeds the sampler"""
    seeds: int
    """training seeds per candidate (0..seeds-1); a candidate's score is the mean over them"""
    template: TrainSpec
    """fidelity: algorithm, steps, hyperparameters, evaluation; its policy and seed are set per candidate"""
    space: SearchSpace
    """the candidates' ranges"""
    synthesis: dict
    """``synthesis.estimate.SynthesisSettings`` as a dict"""
    baseline_width: int = 256
    """hidden width of the FP32 baseline policy"""
    sweep: tuple[Candidate, ...] = ()
    """the candidates of a "sweep" study (``dse sweep``), in the order they are plotted"""
    early_stop: str = "off"
    """early-stop rule of the candidates' trainings (``objectives.early_stop``): off, conservative or aggressive"""
    startup: str = "staged"
    """how a search opens (STARTUPS; ``startup_candidates``)"""
    fidelity_rungs: int = 1
    """successive halving across env steps: every candidate trains to the first rung, the best 1/``fidelity_factor``
    of each rung (by non-dominated rank) resumes to the next; 1 trains every candidate to the end"""
    fidelity_factor: int = 3
    """the reduction factor between rungs: of env steps, and of the candidates promoted"""
    results_version: int = RESULTS_VERSION
    """``training.RESULTS_VERSION`` the study's trials were trained and scored under"""
    hardware_model_version: int = HARDWARE_MODEL_VERSION
    """``synthesis.HARDWARE_MODEL_VERSION`` its designs were estimated with"""
    search_version: int = SEARCH_VERSION
    """``SEARCH_VERSION`` its trials were asked and scored under"""

    def __post_init__(self) -> None:
        if self.strategy not in PLANNED + SAMPLED:
            raise StudyInputError(f"strategy {self.strategy!r} is unknown: choose one of search, staged, random")
        if (self.strategy == "sweep") != bool(self.sweep):
            raise StudyInputError("a sweep study needs its candidates, and only a sweep study has them")
        if self.sampler not in SAMPLERS:
            raise StudyInputError(f"sampler {self.sampler!r} is unknown: choose one of {', '.join(SAMPLERS)}")
        if self.startup not in STARTUPS:
            raise StudyInputError(f"startup {self.startup!r} is unknown: choose one of {', '.join(STARTUPS)}")
        if self.seeds < 1:
            raise StudyInputError(f"seeds {self.seeds} is invalid: a candidate needs at least 1 seed")
        early_stop_rule(self.early_stop)  # an unknown mode is a one-line error
        if self.fidelity_rungs < 1:
            raise StudyInputError(f"fidelity-rungs {self.fidelity_rungs} is invalid: it must be at least 1 (1: no rungs)")
        if self.fidelity_factor < 2:
            raise StudyInputError(f"fidelity-factor {self.fidelity_factor} is invalid: it must be at least 2")
        if self.fidelity_rungs > 1:
            if self.strategy not in SAMPLED:
                raise StudyInputError(
                    f"fidelity-rungs {self.fidelity_rungs} is for the search and random strategies: the {self.strategy} "
                    "strategy trains every candidate to the end, as published"
                )
            if self.early_stop != "off":
                raise StudyInputError(
                    f"early-stop {self.early_stop} cannot be combined with fidelity-rungs {self.fidelity_rungs}: "
                    "promotion between rungs replaces early stopping (use --early-stop off)"
                )
            first, learning_starts = self.rung_steps()[0], self.template.hyper.learning_starts
            if first <= learning_starts:
                raise StudyInputError(
                    f"fidelity rung 1 of {self.fidelity_rungs} would be {first:,} env steps, not above learning-starts "
                    f"{learning_starts:,}: use fewer --fidelity-rungs, a smaller --fidelity-factor or more --steps"
                )

    def rung_steps(self) -> tuple[int, ...]:
        """The env steps of each rung: ``--steps`` divided by the factor once per rung above, the last all of them."""
        total, rungs = self.template.total_steps, self.fidelity_rungs
        return tuple(total // self.fidelity_factor ** (rungs - 1 - rung) for rung in range(rungs))

    def spec(self, candidate: Candidate, seed: int) -> TrainSpec:
        policy = dataclasses.replace(
            self.template.policy,
            width=candidate.width,
            core_bits=candidate.core_bits,
            input_bits=candidate.input_bits,
            output_bits=candidate.output_bits,
            fp32=False,
        )
        return dataclasses.replace(self.template, policy=policy, seed=seed)

    def baseline_specs(self) -> list[TrainSpec]:
        policy = PolicyConfig(width=self.baseline_width, fp32=True)
        return [dataclasses.replace(self.template, policy=policy, seed=seed) for seed in range(self.seeds)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "env_id": self.env_id,
            "strategy": self.strategy,
            "sampler": self.sampler,
            "sampler_seed": self.sampler_seed,
            "seeds": self.seeds,
            "template": self.template.to_dict(),
            "space": self.space.to_dict(),
            "synthesis": dict(self.synthesis),
            "baseline_width": self.baseline_width,
            "sweep": [candidate.params() for candidate in self.sweep],
            "early_stop": self.early_stop,
            "startup": self.startup,
            "fidelity_rungs": self.fidelity_rungs,
            "fidelity_factor": self.fidelity_factor,
            "results_version": self.results_version,
            "hardware_model_version": self.hardware_model_version,
            "search_version": self.search_version,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StudySettings:
        data = dict(data)
        data["template"] = TrainSpec.from_dict(data["template"])
        # studies made when folding was a search axis (search version 1) kept it in the space and the candidates
        data["space"] = SearchSpace(**{axis: tuple(values) for axis, values in data["space"].items() if axis != "foldings"})
        data["sweep"] = tuple(Candidate(**{name: params[name] for name in PARAMS}) for params in data.get("sweep", ()))
        # studies made before the versions were recorded: the first of each
        data.setdefault("results_version", 1)
        data.setdefault("hardware_model_version", 1)
        data.setdefault("search_version", 1)
        data.setdefault("startup", "random")  # before SEARCH_VERSION 2, Optuna's own random start-up
        return cls(**data)

    def differences(self, other: StudySettings) -> list[str]:
        """Settings that differ, as "name: stored -> asked" (json round trip makes tuples and lists compare)."""
        mine, theirs = _flat(json.loads(json.dumps(self.to_dict()))), _flat(json.loads(json.dumps(other.to_dict())))
        return [f"{key}: {mine.get(key)!r} -> {theirs.get(key)!r}" for key in sorted(set(mine) | set(theirs)) if mine.get(key) != theirs.get(key)]


def _flat(data: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def startup_candidates(settings: StudySettings) -> list[Candidate]:
    """The candidates a search opens with, enqueued when the study is made (none for "random": Optuna's own start-up).

    "staged": the staged rule's first sweep (every core bits value at the widest width,
    8-bit input and output), the region most likely to reach parity, which the rule
    would train first too; "space-filling": ``SearchSpace.space_filling``, every value
    of every axis once.
    """
    if settings.strategy != "search" or settings.startup == "random":
        return []
    if settings.startup == "staged":
        from dse.strategies import StagedRule

        return StagedRule(settings.space).stages()[0]
    return settings.space.space_filling(settings.sampler_seed)


def make_sampler(settings: StudySettings, trials_so_far: int = 0) -> optuna.samplers.BaseSampler:
    """The strategy's sampler. Planned trials are enqueued with fixed parameters, so any sampler serves them.

    A search's model-based samplers start modelling right after its start-up
    candidates (``startup_candidates``), and NSGA-II's population is their number;
    with the "random" start-up they keep Optuna's defaults (10 random trials, a
    population of 50). Every sampler reads the constraints the driver sets on each
    trial (parity, fit, trained), so infeasible trials rank below feasible ones. A
    resumed study seeds it with ``sampler_seed + trials_so_far``: re-seeding with the
    study's own seed would replay the first run's opening draws.
    """
    seed = settings.sampler_seed + trials_so_far
    name = settings.sampler if settings.strategy == "search" else "random"
    startup = len(startup_candidates(settings))
    sizes = {} if startup == 0 else {"n_startup_trials": startup}
    if name == "tpe":
        # constant liar: trials still training count as bad, so parallel asks spread out
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True, **sizes)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, **({} if startup == 0 else {"population_size": max(2, startup)}))
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed, **sizes)
    return optuna.samplers.RandomSampler(seed=seed)  # also serves the enqueued picks of the random and ehvi strategies


def storage_url(run_dir: Path, storage: str | None) -> str:
    """``storage``, or the run folder's own: Optuna's journal file ``study.log`` (``dse.journal``).

    A study URL is a SQLAlchemy URL (``postgresql://...``, ``sqlite:///...``) or the
    path of a journal file, as ``optuna-dashboard`` takes them. A ``study.db`` of
    Optuna's relational tables, as older run folders have, opens as the SQLite
    storage it is; older SQLite journals are moved to a journal file once.
    """
    if storage:
        if storage.startswith(journal.LEGACY_SCHEME):
            database = Path(storage[len(journal.LEGACY_SCHEME):])
            moved = database.with_suffix(".log")
            if not moved.exists() and "journal" in _tables(database):
                journal.migrate(database, moved)
            return str(moved)
        return storage
    run_dir = Path(run_dir).resolve()
    database, journal_file = run_dir / journal.LEGACY_DB, run_dir / journal.JOURNAL_FILE
    if not journal_file.exists():
        tables = _tables(database)
        if "journal" in tables:
            journal.migrate(database, journal_file)
        elif "studies" in tables:
            return f"sqlite:///{database}"
    return str(journal_file)


def existing_storage_url(run_dir: Path, storage: str | None) -> str | None:
    """The storage a study already keeps, without creating or moving anything (``dse run --dry-run``).

    None when there is nothing to read yet: a new run folder, a journal file not
    written yet, or an older SQLite journal that the next ``dse run`` moves.
    """
    if storage:
        if "://" in storage:
            return storage
        return storage if Path(storage).exists() and not storage.startswith(journal.LEGACY_SCHEME) else None
    run_dir = Path(run_dir).resolve()
    if (run_dir / journal.JOURNAL_FILE).exists():
        return str(run_dir / journal.JOURNAL_FILE)
    return f"sqlite:///{run_dir / journal.LEGACY_DB}" if "studies" in _tables(run_dir / journal.LEGACY_DB) else None


def _tables(database: Path) -> set[str]:
    try:
        return journal.sqlite_tables(database)
    except sqlite3.DatabaseError as error:
        raise StudyInputError(f"{database} cannot be opened as a study: {error}") from None


def make_storage(url: str) -> optuna.storages.BaseStorage:
    """The storage behind ``url`` (a journal file's path or a SQLAlchemy URL); one-line errors.

    A URL recorded with its password hidden finds it again (``dse.credentials.with_secret``); errors show it hidden.
    """
    has_password = True
    try:
        if "://" not in url:
            return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(url))
        connect, has_password = credentials.with_secret(url)
        storage = optuna.storages.RDBStorage(connect, engine_kwargs=_engine_kwargs(url))
        if storage.engine.name == "sqlite":
            sqlalchemy.event.listen(storage.engine, "connect", lambda connection, record: journal.write_ahead(connection))
            storage.engine.dispose()  # the connection that made the tables has no pragmas: open anew
        return storage
    except Exception as error:  # SQLAlchemy, sqlite3, the file system and drivers raise many kinds; all mean the same here
        reason = credentials.scrubbed(_first_line(error))
        hint = f" ({credentials.HINT})" if not has_password and "password" in reason else ""
        raise StudyInputError(f"storage {credentials.masked(url)!r} cannot be opened: {reason}{hint}") from None


def open_study(url: str, name: str, sampler: optuna.samplers.BaseSampler | None = None, create: bool = True) -> optuna.Study:
    """Create or load the study ``name``; a storage that cannot be opened is a one-line error."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = make_storage(url)
    try:
        if not create:
            return optuna.load_study(storage=storage, study_name=name, sampler=sampler)
        study = optuna.create_study(
            storage=storage, study_name=name, directions=list(DIRECTIONS), sampler=sampler, load_if_exists=True
        )
    except KeyError:
        raise StudyInputError(f"storage {credentials.masked(url)!r} has no study named {name!r}") from None
    if study.metric_names is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(list(METRIC_NAMES))
    return study


def _engine_kwargs(url: str) -> dict:
    return {"connect_args": {"timeout": journal.BUSY_SECONDS}} if url.startswith("sqlite") else {}


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def stored_settings(study: optuna.Study) -> StudySettings | None:
    data = study.user_attrs.get(SETTINGS_ATTR)
    return None if data is None else StudySettings.from_dict(data)


def counts_toward_budget(trial: optuna.trial.FrozenTrial) -> bool:
    """Candidates trained: complete trials, real failures and candidates stopped below the last rung (pruned), not
    repeats (nor candidates that studies of hardware model 2 and before rejected before training).

    An interrupted trial is redone, so it does not count either.
    """
    attrs = trial.user_attrs
    if "repeat_of" in attrs or attrs.get(REJECTED_BEFORE_TRAINING):
        return False
    if trial.state == optuna.trial.TrialState.COMPLETE:
        return True
    if trial.state == optuna.trial.TrialState.PRUNED:
        return "rung_returns" in attrs  # a candidate stopped below the last rung (multi-fidelity)
    return trial.state == optuna.trial.TrialState.FAIL and not attrs.get("interrupted", False)


def feasible_points(attrs: Mapping[str, Any], values: Sequence[float] | None) -> list[tuple[float, ...]]:
    """Objective vectors of a trained trial's feasible designs (from its ``designs``; a trial made before designs
    were kept: its own vector, when feasible)."""
    if values is None:
        return []
    if "designs" not in attrs:
        return [tuple(values)] if attrs.get("feasible") else []
    return [(values[0], *(design[objective.name] for objective in OBJECTIVES[1:])) for design in attrs["designs"]
            if design["feasible"]]  # fmt: skip


def recover_interrupted(study: optuna.Study, ask_again: bool) -> int:
    """Mark trials a stopped driver left running as failed (interrupted); with ``ask_again``, enqueue their parameters.

    Planned strategies re-plan what they miss by themselves, so they pass ``ask_again=False``. A trial that reached a
    rung (multi-fidelity) is left running: the driver takes it back as paused there.
    """
    left = [trial for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
            if "rung_returns" not in trial.user_attrs]
    for frozen in left:
        trial = optuna.Trial(study, frozen._trial_id)
        trial.set_user_attr("interrupted", True)
        trial.set_user_attr("fail_reason", INTERRUPTED)
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        if ask_again and len(frozen.params) == len(PARAMS):
            study.enqueue_trial(frozen.params)
    return len(left)


def finished_in(url: str, name: str) -> int:
    """Trials of study ``name`` in the storage at ``url`` that count toward the budget; 0 when it has no such study."""
    try:
        study = optuna.load_study(study_name=name, storage=make_storage(url))
    except KeyError:
        return 0
    return finished_count(study)


def finished_count(study: optuna.Study) -> int:
    """Trials that count toward the budget."""
    return sum(counts_toward_budget(trial) for trial in study.get_trials(deepcopy=False))


def candidate_of(trial: optuna.trial.FrozenTrial) -> Candidate:
    return Candidate(**{name: trial.params[name] for name in PARAMS})


PARAMS = ("width", "core_bits", "input_bits", "output_bits")
ATTRIBUTES = (
    "return_std", "parity_margin", "parity_feasible", "fits", "fits_any", "feasible", "over", "ffs", "bram36", "dsps",
    "throughput_fps", "latency_cycles", "power_w", "design_target_fps", "hardware_estimator", "deployed_seed", "seed_returns",
    "trainings", "env_steps", "new_trainings", "train_cpu_seconds", "train_env_steps", "trained_on", "env_steps_saved",
    "resumed_at", "rung_reached", "rung_returns", "rung_env_steps", "rung_cpu_seconds", "spent_env_steps", "stopped_early", "stopped_at_step", "repeat_of", "fail_reason", "policy_dirs",
)
RECORD_COLUMNS = (
    "number", "state", "outcome", *PARAMS, *(objective.name for objective in OBJECTIVES), *ATTRIBUTES, "started", "finished", "duration_s",
)


def outcome(trial: optuna.trial.FrozenTrial) -> str:
    """What became of the ask: "trained", "repeat of #N", "interrupted", "running", under rungs "paused at rung R" and
    "stopped at rung R", or in a study of hardware model 2 and before "rejected before training"."""
    attrs = trial.user_attrs
    if "repeat_of" in attrs:
        return f"repeat of #{attrs['repeat_of']}"
    if attrs.get(REJECTED_BEFORE_TRAINING):
        return "rejected before training"
    if attrs.get("interrupted"):
        return "interrupted"
    if trial.state == optuna.trial.TrialState.PRUNED:
        return f"stopped at rung {attrs.get('rung_reached')}"
    if trial.state == optuna.trial.TrialState.RUNNING and "rung_returns" in attrs:
        return f"paused at rung {len(attrs['rung_returns'])}"
    return "running" if trial.state == optuna.trial.TrialState.RUNNING else "trained"


def trial_record(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """One row of the reports (RECORD_COLUMNS): parameters, objectives, feasibility, hardware, compute, timings."""
    attrs = trial.user_attrs
    record: dict[str, Any] = {"number": trial.number, "state": trial.state.name, "outcome": outcome(trial)}
    record.update({name: trial.params.get(name) for name in PARAMS})
    values = trial.values if trial.state == optuna.trial.TrialState.COMPLETE else None
    for index, objective in enumerate(OBJECTIVES):
        record[objective.name] = values[index] if values else None
    record.update({name: attrs.get(name) for name in ATTRIBUTES})
    record["started"] = trial.datetime_start
    record["finished"] = trial.datetime_complete
    record["duration_s"] = (
        (trial.datetime_complete - trial.datetime_start).total_seconds()
        if trial.datetime_complete and trial.datetime_start else None
    )
    return record


def candidate_of_row(row) -> Candidate:
    """The candidate of a report row (a mapping with the PARAMS columns)."""
    return Candidate(*(int(row[name]) for name in PARAMS))
