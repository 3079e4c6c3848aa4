"""The trainings of a study's trials on Ray: submitted once per spec however many trials wait on it, collected,
taken from the policy cache where it holds them, and charged to one trial.

A trial's trainings (one per seed) run to its rung, or to the end; the first trial
still waiting on a training is charged for it, the others get it as a reused
training, so compute is counted once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import optuna

from dse.storage.lease import REFRESH_SECONDS
from dse.study.baseline import EarlyStop
from dse.study.executor import RayExecutor
from dse.study.tasks import TaskFailed, TrainingOutcome, cached_outcome
from search_spaces import Candidate
from training import TrainSpec


@dataclass
class ActiveTrial:
    """A trial whose trainings are under way (or, under rungs, paused between them)."""

    trial: optuna.Trial
    candidate: Candidate
    specs: list[TrainSpec]
    outcomes: dict[int, TrainingOutcome] = field(default_factory=dict)
    failure: str | None = None
    repeat_of: int | None = None
    """the trial already training this candidate: this one waits on its trainings and spends nothing"""
    rung: int = 0
    """the rung its trainings are under way to (multi-fidelity), or the rung it paused at"""
    seeds_now: int | None = None
    """under seed racing, the seeds it trains for now (its first ones); None: all of them"""

    @property
    def wanted(self) -> int:
        """The seeds whose trainings it waits for."""
        return len(self.specs) if self.seeds_now is None else self.seeds_now

    @property
    def settled(self) -> bool:
        return self.failure is not None or len(self.outcomes) == self.wanted

    def ordered(self) -> list[TrainingOutcome]:
        return [self.outcomes[seed] for seed in range(self.wanted)]


class TrainingPool:
    """Trainings under way on the executor's workers, keyed by spec: one Ray task trains a group of specs."""

    def __init__(self, executor: RayExecutor, cache_dir: Path, early_stop: EarlyStop | None,
                 log: Callable[[str], None]):  # fmt: skip
        self.executor = executor
        self.cache_dir = cache_dir
        self.early_stop = early_stop
        self.log = log
        self.reused = {"cache": 0, "shared": 0}
        """trainings trials got without training: from the cache, or from another trial of this run training them"""
        self._pending: dict = {}  # ray ref -> the specs it trains
        self._ref_of: dict[str, object] = {}  # spec key -> ray ref (one training per spec, however many trials wait)
        self._waiting: dict[str, list[tuple[int, int]]] = {}  # spec key -> (trial number, seed index)

    @property
    def has_free_worker(self) -> bool:
        return len(self._pending) < self.executor.workers

    @property
    def busy(self) -> bool:
        return bool(self._pending)

    @property
    def early_stop_task(self) -> dict | None:
        """What a training task needs of the early-stop rule (it also names the training's saves)."""
        return self.early_stop.task_config if self.early_stop else None

    def submit(self, active: ActiveTrial, until: int | None) -> None:
        """Start (or join) the trainings ``active`` lacks: to the end (``until`` None) from the cache or Ray, or to env
        step ``until`` (a lower rung) on Ray (paused trainings are not cached: their saves at the driver are)."""
        identity = self.early_stop.identity if self.early_stop else None
        missing = []
        for seed, spec in enumerate(active.specs[:active.wanted]):
            if seed in active.outcomes:  # a raced candidate's first seeds, when the rest are asked for
                continue
            cached = cached_outcome(spec, self.cache_dir, identity, log=self.log) if until is None else None
            if cached is not None:
                active.outcomes[seed] = cached
                self.reused["cache"] += 1
                continue
            key = spec.key()
            if key not in self._ref_of:
                missing.append(spec)
            self._waiting.setdefault(key, []).append((active.trial.number, seed))
        for group in self.executor.groups(missing):
            ref = self.executor.submit(group, self.early_stop_task, until)
            self._pending[ref] = group
            for spec in group:
                self._ref_of[spec.key()] = ref

    def wait(self) -> list:
        """Tasks finished within the lease's refresh interval (possibly none)."""
        return self.executor.wait(list(self._pending), timeout=REFRESH_SECONDS)

    def collect(self, ref, active: dict[int, ActiveTrial]) -> None:
        """A finished task's runs into the cache and to the trials waiting for them (or its failure)."""
        group = self._pending.pop(ref)
        keys = [spec.key() for spec in group]
        outcomes, failure = {}, None
        try:
            outcomes = dict(zip(keys, self.executor.outcomes(ref, group, self.cache_dir)))
        except TaskFailed as error:
            failure = str(error)
        for key in keys:
            del self._ref_of[key]
            charged = False
            for number, seed in self._waiting.pop(key):
                waiting = active.get(number)
                if waiting is None:  # a trial that failed on another of its trainings
                    continue
                if key in outcomes:
                    waiting.outcomes[seed] = dataclasses.replace(outcomes[key], trained=False) if charged else outcomes[key]
                    self.reused["shared"] += charged
                    charged = True
                elif waiting.failure is None:
                    waiting.failure = failure

    def forget(self, specs: list[TrainSpec]) -> None:
        """A multi-fidelity candidate's saves at the driver are done with."""
        self.executor.forget(specs, self.early_stop_task)
