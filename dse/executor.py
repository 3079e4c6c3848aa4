"""Training as Ray tasks: one task per (candidate, seed), each into the policy cache.

A trained policy lives in ``cache/train/<policy>-s<seed>-<spec hash>/``; a run
folder with its completion mark is never trained again, so candidates that differ
only in folding, and a resumed study, reuse it. Only the driver process talks to
Ray; the task itself is a plain function of a TrainSpec.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

from training import TrainingInputError, TrainSpec, read_run, train

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
    """time the training took when it ran"""
    trained: bool
    """False when the cache already held it"""

    @property
    def mean_return(self) -> float:
        return sum(self.returns) / len(self.returns)


def run_dir_for(spec: TrainSpec, cache_dir: Path) -> Path:
    return Path(cache_dir) / f"{spec.policy.label}-s{spec.seed}-{spec.key()}"


def cached_outcome(spec: TrainSpec, cache_dir: Path) -> TrainingOutcome | None:
    """The finished run of ``spec`` in the cache, or None."""
    run_dir = run_dir_for(spec, cache_dir)
    if not (run_dir / "complete.json").exists():
        return None
    try:
        return _outcome(spec, run_dir, trained=False)
    except (OSError, ValueError, KeyError):
        return None  # an unreadable run is not a finished one: it is trained again


def _outcome(spec: TrainSpec, run_dir: Path, trained: bool) -> TrainingOutcome:

    read_run(run_dir)
    evaluation = json.loads((run_dir / "eval.json").read_text())
    complete = json.loads((run_dir / "complete.json").read_text())
    return TrainingOutcome(spec.key(), str(run_dir), tuple(evaluation["returns"]), complete["wall_seconds"], trained)


def train_cached(spec_dict: dict, cache_dir: str, threads: int) -> TrainingOutcome:
    """The Ray task: train ``spec`` into the cache unless it is there; NaN returns fail the task."""
    import torch

    spec = TrainSpec.from_dict(spec_dict)
    outcome = cached_outcome(spec, Path(cache_dir))
    if outcome is None:
        torch.set_num_threads(threads)
        run_dir = run_dir_for(spec, Path(cache_dir))
        # a folder without its completion mark is a training that was cut off: start it again
        result = train(spec, run_dir, overwrite=True)
        outcome = _outcome(spec, result.run_dir, trained=True)
    if not outcome.returns:
        raise TrainingInputError("training evaluated no episodes: final-eval-episodes must be at least 1 for a study")
    if not all(math.isfinite(value) for value in outcome.returns):
        raise TaskFailed(f"training of {spec.policy.label} seed {spec.seed} diverged: its evaluation returns are not finite")
    return outcome


def evaluate_run(run_dir: str, episodes: int, seed: int, sigma: float) -> tuple[float, ...]:
    """The Ray task of ``dse noise``: deterministic returns of a finished run's policy under observation noise."""
    import torch

    from training import evaluate, load_policy

    torch.set_num_threads(1)
    config = read_run(run_dir)
    policy, normalizer = load_policy(run_dir)
    returns = evaluate(policy, normalizer, config["spec"]["env_id"], episodes, seed, sigma)
    return tuple(float(value) for value in returns)


class RayExecutor:
    """Runs ``train_cached`` tasks on a local Ray (started here) or on a cluster (``address``)."""

    def __init__(self, address: str | None, workers: int, cpus_per_task: float = 1.0, threads: int = 1):
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

    def submit(self, spec: TrainSpec, cache_dir: Path):
        return self._task.remote(spec.to_dict(), str(cache_dir), self.threads)

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
