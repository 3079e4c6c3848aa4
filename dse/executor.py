"""Training as Ray tasks: by default one task per candidate, training its seeds together, into the policy cache.

A trained policy lives in ``cache/train/<policy>-s<seed>-<spec hash>/``; a run
folder with its completion mark is never trained again, so candidates that differ
only in folding, and a resumed study, reuse it. A task is given the specs of one
candidate (seeds differing only in their seed) and trains those not in the cache
together in one process (``training.train_seeds``); ``--task-per-seed`` gives
each seed a task of its own instead. Only the driver process talks to Ray; the
task itself is a plain function of TrainSpecs.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

from objectives.early_stop import EarlyStopper, Fp32Curve, early_stop_rule
from training import TrainingInputError, TrainSpec, read_run, train_seeds

WORKER_RETRIES = 3
"""a task whose worker process dies is retried this many times; an exception in training is not retried"""
OBJECT_STORE_BYTES = 256 * 1024**2
"""tasks pass only small records, so the local object store stays small"""


class TaskFailed(RuntimeError):
    """A Ray task (training or evaluation) ended in an exception or lost its worker for good; the message is one line."""


@dataclass(frozen=True)
class TrainingOutcome:
    """One finished (candidate, seed) training, fresh or from the cache."""

    key: str
    run_dir: str
    returns: tuple[float, ...]
    """final deterministic evaluation returns"""
    wall_seconds: float
    """this seed's share of the wall time of the training that made it (seeds trained together share it)"""
    env_steps: int
    """env steps this seed's training took"""
    trained: bool
    """False when the cache already held it"""
    stopped_early: dict | None = None
    """rule, env step and reason when an early-stop rule ended the training"""

    @property
    def mean_return(self) -> float:
        return sum(self.returns) / len(self.returns)


def run_dir_for(spec: TrainSpec, cache_dir: Path) -> Path:
    return Path(cache_dir) / f"{spec.policy.label}-s{spec.seed}-{spec.key()}"


def cached_outcome(spec: TrainSpec, cache_dir: Path, early_stop: str = "off") -> TrainingOutcome | None:
    """The finished run of ``spec`` in the cache, or None.

    A run an early-stop rule ended stands only for a study stopping by the same
    rule (``early_stop``, a mode name); any other study trains it again in full.
    """
    run_dir = run_dir_for(spec, cache_dir)
    if not (run_dir / "complete.json").exists():
        return None
    try:
        outcome = _outcome(spec, run_dir, trained=False)
    except (OSError, ValueError, KeyError):
        return None  # an unreadable run is not a finished one: it is trained again
    if outcome.stopped_early is not None and outcome.stopped_early["rule"] != early_stop:
        return None
    return outcome


def _outcome(spec: TrainSpec, run_dir: Path, trained: bool) -> TrainingOutcome:

    read_run(run_dir)
    evaluation = json.loads((run_dir / "eval.json").read_text())
    complete = json.loads((run_dir / "complete.json").read_text())
    return TrainingOutcome(
        spec.key(),
        str(run_dir),
        tuple(evaluation["returns"]),
        complete["wall_seconds"] / complete.get("seeds_trained_together", 1),
        complete["env_steps"],
        trained,
        complete.get("stopped_early"),
    )


def train_cached(
    spec_dicts: list[dict], cache_dir: str, threads: int, early_stop: dict | None = None
) -> list[TrainingOutcome]:
    """The Ray task: train the seeds of ``spec_dicts`` that are not in the cache, together; NaN returns fail it.

    ``early_stop``: the mode and the FP32 curve (``Fp32Curve.to_dict``) of an early-stop rule, or None.
    """
    import torch

    specs = [TrainSpec.from_dict(spec_dict) for spec_dict in spec_dicts]
    mode = early_stop["mode"] if early_stop else "off"
    outcomes = {spec.key(): cached_outcome(spec, Path(cache_dir), mode) for spec in specs}
    missing = [spec for spec in specs if outcomes[spec.key()] is None]
    if missing:
        torch.set_num_threads(threads)
        stopper = None
        if early_stop:
            reference = Fp32Curve.from_dict(early_stop["reference"])
            stopper = EarlyStopper(early_stop_rule(mode), reference, missing[0].total_steps)
        # a folder without its completion mark is a training that was cut off: start it again
        run_dirs = [run_dir_for(spec, Path(cache_dir)) for spec in missing]
        train_seeds(missing[0], [spec.seed for spec in missing], run_dirs, overwrite=True, stop_rule=stopper)
        for spec, run_dir in zip(missing, run_dirs):
            outcomes[spec.key()] = _outcome(spec, run_dir, trained=True)
    for spec in specs:
        outcome = outcomes[spec.key()]
        if not outcome.returns:
            raise TrainingInputError("training evaluated no episodes: final-eval-episodes must be at least 1 for a study")
        if not all(math.isfinite(value) for value in outcome.returns):
            raise TaskFailed(
                f"training of {spec.policy.label} seed {spec.seed} diverged: its evaluation returns are not finite"
            )
    return [outcomes[spec.key()] for spec in specs]


def evaluate_run(run_dir: str, episodes: int, seed: int, sigma: float) -> tuple[float, ...]:
    """The Ray task of ``dse noise``: deterministic returns of a finished run's policy under observation noise."""
    import torch

    from training import evaluate, load_policy

    torch.set_num_threads(1)
    config = read_run(run_dir)
    policy, normalizer = load_policy(run_dir)
    returns = evaluate(policy, normalizer, config["spec"]["env_id"], episodes, seed, sigma)
    return tuple(float(value) for value in returns)


def task_groups(specs: list[TrainSpec], parts: int, task_per_seed: bool) -> list[list[TrainSpec]]:
    """How one candidate's specs are split into training tasks: ``parts`` of about equal size, or one per seed.

    One part per candidate while several candidates train; the FP32 baseline,
    trained alone, takes one per worker.
    """
    parts = len(specs) if task_per_seed else min(parts, len(specs))
    return [list(specs[part::parts]) for part in range(parts)]


class RayExecutor:
    """Runs ``train_cached`` tasks on a local Ray (started here) or on a cluster (``address``).

    ``task_per_seed``: split each candidate's seeds into one task each rather than training them together.
    """

    def __init__(
        self,
        address: str | None,
        workers: int,
        cpus_per_task: float = 1.0,
        threads: int = 1,
        task_per_seed: bool = False,
    ):
        import ray

        if not ray.is_initialized():
            quiet = dict(logging_level=logging.ERROR, log_to_driver=False, configure_logging=True)
            if address:
                ray.init(address=address, **quiet)
            else:
                ray.init(
                    num_cpus=max(1, math.ceil(workers * cpus_per_task)),
                    include_dashboard=False,
                    object_store_memory=OBJECT_STORE_BYTES,
                    **quiet,
                )
        self._ray = ray
        self._task = ray.remote(num_cpus=cpus_per_task, max_retries=WORKER_RETRIES)(train_cached)
        self._evaluation = ray.remote(num_cpus=cpus_per_task, max_retries=WORKER_RETRIES)(evaluate_run)
        self.workers = workers
        self.threads = threads
        self.task_per_seed = task_per_seed

    def groups(self, specs: list[TrainSpec], parts: int = 1) -> list[list[TrainSpec]]:
        return task_groups(specs, parts, self.task_per_seed)

    def submit(self, specs: list[TrainSpec], cache_dir: Path, early_stop: dict | None = None):
        """A task training ``specs`` (one candidate's seeds) together; its result is their outcomes in order."""
        return self._task.remote([spec.to_dict() for spec in specs], str(cache_dir), self.threads, early_stop)

    def submit_evaluation(self, run_dir: str, episodes: int, seed: int, sigma: float):
        return self._evaluation.remote(run_dir, episodes, seed, sigma)

    def wait(self, refs: list, timeout: float | None = None) -> list:
        """The refs among ``refs`` that have finished (at least one unless the timeout passes)."""
        ready, _ = self._ray.wait(list(refs), num_returns=1, timeout=timeout)
        return ready

    def result(self, ref):
        """The task's return value; its failure as one line (TaskFailed)."""
        try:
            return self._ray.get(ref)
        except self._ray.exceptions.RayTaskError as error:
            cause = error.cause if getattr(error, "cause", None) is not None else error
            raise TaskFailed(_one_line(cause)) from None
        except self._ray.exceptions.RayError as error:
            raise TaskFailed(f"{type(error).__name__}: {_one_line(error)}") from None


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    message = text[-1] if text else ""
    if isinstance(error, (TaskFailed, TrainingInputError)):
        return message
    return f"{type(error).__name__}: {message}"
