"""Training as Ray tasks (``dse.study.tasks``) on a local Ray or a cluster: by default one task per candidate, training
its seeds together; results come back as data. ``--task-per-seed`` gives each seed a task of its own.

A training saves itself now and then (``training.checkpoint``) and sends what
each save added to a ``CheckpointStore``, an actor on the driver's node that
keeps it under ``cache/resume/<training>/``. A task retried after its worker or
node died, or given the same training again by a re-run study, fetches those
files first and resumes where the last save left off, on whichever node it runs.
The store's folder of a training goes once its runs are in the cache.
"""

from __future__ import annotations

import errno
import logging
import math
import shutil
from dataclasses import dataclass
from pathlib import Path

from dse.study.plan import OBJECT_STORE_BYTES
from dse.study.signals import catch_stop_signals
from dse.study.tasks import (
    RungOutcome,
    TaskFailed,
    TrainingOutcome,
    evaluate_run,
    install_runs,
    pack_run,
    task_groups,
    task_training,
    train_task,
)
from training import (
    TrainingDiverged,
    TrainingInputError,
    TrainSpec,
)
from training.checkpoint import DEFAULT_SECONDS, CheckpointFolder
from training.memory import TASK_OVERHEAD_BYTES, gigabytes

WORKER_RETRIES = 3
"""a task whose worker process or node dies is retried this many times; an exception in training is not retried"""


@dataclass(frozen=True)
class CheckpointSettings:
    """How often training tasks save themselves, and where the driver keeps the saves."""

    root: Path
    """on the driver's node: one folder per training"""
    every_steps: int | None = None
    every_seconds: float | None = DEFAULT_SECONDS


class CheckpointStore:
    """A Ray actor on the driver's node that keeps the checkpoints training tasks send, one folder per training."""

    def __init__(self, root: str):
        self.root = Path(root)

    def put(self, training: str, files: dict[str, bytes], kept: list[str]) -> None:
        """Add a save's new files (each written whole, then renamed) and drop those it no longer keeps."""
        folder = CheckpointFolder(self.root / training)
        for name, data in files.items():
            folder.write(name, data)
        folder.keep_only(kept)

    def names(self, training: str) -> list[str]:
        """The files of ``training``'s checkpoint as it was last saved (none: there is none)."""
        folder = self.root / training
        if not folder.is_dir():
            return []
        return sorted(path.name for path in folder.iterdir() if not path.name.startswith("."))

    def read(self, training: str, name: str) -> bytes:
        """One file, so a replay memory of gigabytes crosses the object store a save's worth at a time."""
        return (self.root / training / name).read_bytes()

    def drop(self, training: str) -> None:
        shutil.rmtree(self.root / training, ignore_errors=True)


class RayExecutor:
    """Runs ``train_task`` tasks on a local Ray (started here) or on a cluster (``address``).

    ``task_per_seed``: split each candidate's seeds into one task each rather than training them together.
    ``seed_bytes``: one seed's replay memory (``dse.study.plan.memory_of``). Each task declares the memory it holds,
    so Ray starts no more tasks on a node than the node's memory takes.
    """

    def __init__(
        self,
        address: str | None,
        workers: int,
        cpus_per_task: float = 1.0,
        threads: int = 1,
        task_per_seed: bool = False,
        checkpoints: CheckpointSettings | None = None,
        seed_bytes: int = 0,
    ):
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        if not ray.is_initialized():
            quiet = dict(logging_level=logging.ERROR, log_to_driver=False, configure_logging=True)
            if address:
                try:
                    ray.init(address=address, **quiet)
                except (ConnectionError, RuntimeError, ValueError) as error:
                    raise TaskFailed(f"Ray cluster {address!r} cannot be joined: {_one_line(error)}") from None
            else:
                ray.init(
                    address="local",  # a new local instance, even where a `ray start` cluster runs on this machine
                    num_cpus=max(1, math.ceil(workers * cpus_per_task)),
                    include_dashboard=False,
                    object_store_memory=OBJECT_STORE_BYTES,
                    **quiet,
                )
            catch_stop_signals()  # ray.init put its own SIGTERM handler in place
        self._ray = ray
        self._task = ray.remote(num_cpus=cpus_per_task, max_retries=WORKER_RETRIES)(train_task)
        self._evaluation = ray.remote(num_cpus=cpus_per_task, max_retries=WORKER_RETRIES)(evaluate_run)
        self.workers = workers
        self.threads = threads
        self.task_per_seed = task_per_seed
        self.checkpoints = checkpoints
        self.seed_bytes = seed_bytes
        self.node_memory = self._largest_node_memory()
        self._store = None
        self._trainings: dict = {}
        if checkpoints is not None:
            # on the driver's node, so the saves are where the driver is; restarted (it keeps nothing in memory)
            # and its calls retried, so a training never fails for want of its store
            here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
            store = ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)(CheckpointStore)
            self._store = store.options(scheduling_strategy=here).remote(str(checkpoints.root))

    def groups(self, specs: list[TrainSpec], parts: int = 1) -> list[list[TrainSpec]]:
        return task_groups(specs, parts, self.task_per_seed)

    def submit(self, specs: list[TrainSpec], early_stop: dict | None = None, until: int | None = None):
        """A task training ``specs`` (one candidate's seeds) together, to the end or paused at ``until`` (a rung)."""
        checkpoints = None
        if self.checkpoints is not None:
            checkpoints = {"every_steps": self.checkpoints.every_steps, "every_seconds": self.checkpoints.every_seconds}
        elif until is not None:
            raise TaskFailed("a training paused at a rung needs checkpoints to resume from: the executor has none")
        task = self._task.options(memory=self.task_memory(len(specs)))
        ref = task.remote([spec.to_dict() for spec in specs], self.threads, early_stop, self._store, checkpoints, until)
        self._trainings[ref] = task_training(specs, early_stop)
        return ref

    def outcomes(self, ref, specs: list[TrainSpec], cache_dir: Path) -> list[TrainingOutcome] | list[RungOutcome]:
        """A training task's runs unpacked into the driver's cache (its checkpoint then dropped), or its seeds'
        returns at the rung it paused at (the checkpoint kept to resume from); its failure as one line (TaskFailed),
        its checkpoint kept for a later try."""
        training = self._trainings.pop(ref, None)
        result = self.result(ref)
        if result and isinstance(result[0], RungOutcome):
            return result
        outcomes = install_runs(specs, result, cache_dir)
        if self._store is not None and training is not None:
            self._store.drop.remote(training)
        return outcomes

    def forget(self, specs: list[TrainSpec], early_stop: dict | None = None) -> None:
        """Drop the saves of ``specs``' trainings (a candidate stopped below the last rung will not resume)."""
        if self._store is not None:
            for group in self.groups(specs):
                self._store.drop.remote(task_training(group, early_stop))

    def submit_evaluation(self, run_dir: str, episodes: int, seed: tuple[int, ...], sigma: float):
        return self._evaluation.remote(pack_run(run_dir), episodes, seed, sigma)

    def task_memory(self, seeds: int) -> int:
        """The bytes a task training ``seeds`` seeds declares; a one-line refusal where no node has them."""
        needed = TASK_OVERHEAD_BYTES + seeds * self.seed_bytes
        if needed > self.node_memory:
            self.node_memory = self._largest_node_memory()  # a cluster may have grown since
        if needed > self.node_memory:
            split = ", or train each seed in a task of its own (--task-per-seed)" if seeds > 1 else ""
            raise TaskFailed(
                f"a training task of {seeds} seed{'s' if seeds > 1 else ''} needs about {gigabytes(needed)}, more than "
                f"the {gigabytes(self.node_memory)} Ray schedules tasks in on any node: lower --buffer-size or "
                f"--seeds{split}")
        return needed

    def _largest_node_memory(self) -> int:
        return max((node["Resources"].get("memory", 0) for node in self._ray.nodes() if node["Alive"]), default=0)

    def wait(self, refs: list, timeout: float | None = None) -> list:
        """The refs among ``refs`` that have finished (at least one unless the timeout passes)."""
        ready, _ = self._ray.wait(list(refs), num_returns=1, timeout=timeout)
        return ready

    def result(self, ref):
        """The task's return value; its failure as one line (TaskFailed)."""
        try:
            return self._ray.get(ref)
        except self._ray.exceptions.RayTaskError as error:
            cause = error
            while isinstance(cause, self._ray.exceptions.RayTaskError) and getattr(cause, "cause", None) is not None:
                cause = cause.cause  # a task's call to the checkpoint store failed inside it
            if isinstance(cause, OSError) and cause.errno == errno.ENOSPC:  # a full disk: one line, as on the driver
                raise OSError(errno.ENOSPC, cause.strerror, cause.filename) from None
            raise TaskFailed(_one_line(cause)) from None
        except self._ray.exceptions.RayError as error:
            raise TaskFailed(f"{type(error).__name__}: {_one_line(error)}") from None


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    message = text[-1] if text else ""
    if isinstance(error, (TaskFailed, TrainingInputError, TrainingDiverged)):
        return message
    return f"{type(error).__name__}: {message}"
