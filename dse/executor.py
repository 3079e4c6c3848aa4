"""Training as Ray tasks: by default one task per candidate, training its seeds together; results come back as data.

A trained policy lives in the driver's cache, ``cache/train/<policy>-s<seed>-<spec hash>/``;
a run folder with its completion mark, whose files match the hashes that mark
holds, is never trained again, so candidates that differ only in folding, and a
resumed study, reuse it. A task is given the specs of one candidate's seeds that
are not in the cache and trains them together (``training.train_seeds``) in a
scratch folder of whichever node runs it; it returns each run folder packed as
bytes, which the driver unpacks into its cache. No filesystem is shared between
the driver and the nodes. ``--task-per-seed`` gives each seed a task of its own.

A training saves itself now and then (``training.checkpoint``) and sends what
each save added to a ``CheckpointStore``, an actor on the driver's node that
keeps it under ``cache/resume/<training>/``. A task retried after its worker or
node died, or given the same training again by a re-run study, fetches those
files first and resumes where the last save left off, on whichever node it runs.
The store's folder of a training goes once its runs are in the cache.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dse.deploy import evaluate_deployed, expected_forward, integer_actor
from objectives.early_stop import EarlyStopper, Fp32Curve, early_stop_rule
from training import TrainingDiverged, TrainingInputError, TrainSpec, read_eval, read_run, verify_run
from training.checkpoint import DEFAULT_SECONDS, CheckpointFolder, training_identity
from training.run_folder import COMPLETE

WORKER_RETRIES = 3
"""a task whose worker process or node dies is retried this many times; an exception in training is not retried"""
OBJECT_STORE_BYTES = 256 * 1024**2
"""tasks pass specs and packed run folders (tens of kB to a few MB), so the local object store stays small"""


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
    node: str | None = None
    """the Ray node that trained it ("host/node id"); None when it came from the cache"""
    forward: str | None = None
    """what computed the actions of its final evaluation (``dse.deploy``)"""
    resumed_at: tuple[int, ...] = ()
    """the env steps its training resumed from after its worker or node died (or its study was stopped)"""

    @property
    def mean_return(self) -> float:
        return sum(self.returns) / len(self.returns)


@dataclass(frozen=True)
class RungOutcome:
    """One (candidate, seed) training paused at a rung short of its end (multi-fidelity): its returns there."""

    key: str
    env_step: int
    returns: tuple[float, ...]
    """the final evaluation's episodes, on the deployed policy as it is at ``env_step``"""
    wall_seconds: float
    """this seed's share of the wall time of its training so far, all rungs together"""
    node: str


@dataclass(frozen=True)
class TrainedRun:
    """What a training task returns per seed: the run folder as a gzipped tar, and the node that trained it."""

    key: str
    archive: bytes
    node: str


def run_dir_for(spec: TrainSpec, cache_dir: Path) -> Path:
    return Path(cache_dir) / f"{spec.policy.label}-s{spec.seed}-{spec.key()}"


def cached_outcome(
    spec: TrainSpec, cache_dir: Path, stop_identity: str | None = None, log: Callable[[str], None] | None = None
) -> TrainingOutcome | None:
    """The finished run of ``spec`` in the cache, or None.

    Reused only when everything that made it is what this study would do: the
    spec and the results version (the folder's name), files matching the hashes
    of its completion mark (a corrupted or truncated copy is trained again, and
    ``log`` hears why), a final evaluation of the deployed forward, and, for a
    run an early-stop rule ended, a rule of the same identity (its thresholds
    and the FP32 curve it compared with: ``stop_identity``).
    """
    run_dir = run_dir_for(spec, cache_dir)
    if not (run_dir / COMPLETE).exists():
        return None
    damage = verify_run(run_dir)
    if damage is not None:
        if log is not None:
            log(f"cached policy {run_dir.name} is damaged ({damage}): training it again")
        return None
    try:
        outcome = _outcome(spec, run_dir, trained=False)
    except (OSError, ValueError, KeyError):
        return None  # an unreadable run is not a finished one: it is trained again
    if outcome.forward != expected_forward(spec.policy):
        return None
    if outcome.stopped_early is not None and (stop_identity is None or outcome.stopped_early.get("identity") != stop_identity):
        return None
    return outcome


def _outcome(spec: TrainSpec, run_dir: Path, trained: bool, node: str | None = None) -> TrainingOutcome:
    read_run(run_dir)
    evaluation = read_eval(run_dir)
    complete = json.loads((run_dir / COMPLETE).read_text())
    return TrainingOutcome(
        spec.key(),
        str(run_dir),
        tuple(evaluation["returns"]),
        complete["wall_seconds"] / complete.get("seeds_trained_together", 1),
        complete["env_steps"],
        trained,
        complete.get("stopped_early"),
        node,
        evaluation.get("forward"),
        tuple(complete.get("resumed_at", ())),
    )


def pack_run(run_dir: Path | str) -> bytes:
    """A run folder's files as a gzipped tar, names relative to the folder."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in sorted(Path(run_dir).iterdir()):
            archive.add(path, arcname=path.name)
    return buffer.getvalue()


def unpack_run(archive: bytes, run_dir: Path | str) -> Path:
    """Unpack ``pack_run``'s bytes into ``run_dir``, replacing what is there only once every file is written."""
    run_dir = Path(run_dir)
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    incoming = Path(tempfile.mkdtemp(prefix=f".{run_dir.name}.", dir=run_dir.parent))
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            tar.extractall(incoming, filter="data")
        if run_dir.exists():
            shutil.rmtree(run_dir)
        os.replace(incoming, run_dir)
    finally:
        shutil.rmtree(incoming, ignore_errors=True)
    return run_dir


def install_runs(specs: list[TrainSpec], runs: list[TrainedRun], cache_dir: Path) -> list[TrainingOutcome]:
    """A training task's runs unpacked into the driver's cache, checked against their hashes, as outcomes."""
    outcomes = []
    for spec, run in zip(specs, runs):
        if run.key != spec.key():
            raise TaskFailed(f"a training task sent back {run.key}, not the {spec.policy.label} seed {spec.seed} it was given")
        try:
            run_dir = unpack_run(run.archive, run_dir_for(spec, cache_dir))
        except (tarfile.TarError, EOFError, zlib.error) as error:
            raise TaskFailed(f"the policy of {spec.policy.label} seed {spec.seed} arrived damaged: {error}") from None
        damage = verify_run(run_dir)
        if damage is not None:
            raise TaskFailed(f"the policy of {spec.policy.label} seed {spec.seed} arrived damaged: {damage}")
        outcomes.append(_outcome(spec, run_dir, trained=True, node=run.node))
    return outcomes


def _node() -> str:
    import socket

    import ray

    node_id = ray.get_runtime_context().get_node_id() if ray.is_initialized() else "local"
    return f"{socket.gethostname()}/{node_id}"


def _stopper(specs: list[TrainSpec], early_stop: dict | None) -> EarlyStopper | None:
    """The early-stop rule of a task: ``early_stop`` holds its mode and the FP32 curve (``Fp32Curve.to_dict``)."""
    if not early_stop:
        return None
    reference = Fp32Curve.from_dict(early_stop["reference"])
    return EarlyStopper(early_stop_rule(early_stop["mode"]), reference, specs[0].total_steps)


def task_training(specs: list[TrainSpec], early_stop: dict | None) -> str:
    """The checkpoint name of a task's training (``training.checkpoint.training_identity``)."""
    stopper = _stopper(specs, early_stop)
    return training_identity(specs, stopper.identity if stopper is not None else None)


def _checkpointing(store, settings: dict, training: str, folder: Path):
    """Resume from the store's files of ``training``, if any; send each new save to it."""
    import ray

    from training.checkpoint import Checkpointing

    folder.mkdir()
    for name in ray.get(store.names.remote(training)):
        (folder / name).write_bytes(ray.get(store.read.remote(training, name)))

    def send(saved) -> None:
        ray.get(store.put.remote(training, {path.name: path.read_bytes() for path in saved.written}, list(saved.kept)))

    return Checkpointing(folder, settings["every_steps"], settings["every_seconds"], on_save=send)


def train_task(
    spec_dicts: list[dict],
    threads: int,
    early_stop: dict | None = None,
    store=None,
    checkpoints: dict | None = None,
    until: int | None = None,
) -> list[TrainedRun] | list[RungOutcome]:
    """The Ray task: train the seeds of ``spec_dicts`` together in a scratch folder; their run folders as data.

    ``early_stop``: see ``_stopper``, or None. ``store``: the ``CheckpointStore``
    to resume from and save to, every ``checkpoints`` steps or seconds
    (``CheckpointSettings``' fields); None trains without saving. ``until``: pause
    at this env step (a rung) and return the seeds' returns there instead
    (needs the store). Non-finite returns fail the task, naming the seed.
    """
    import torch

    from training import train_seeds, train_to

    specs = [TrainSpec.from_dict(spec_dict) for spec_dict in spec_dicts]
    torch.set_num_threads(threads)
    stopper = _stopper(specs, early_stop)
    with tempfile.TemporaryDirectory(prefix="dse-train-") as scratch:
        checkpointing = None
        if store is not None:
            checkpointing = _checkpointing(store, checkpoints, task_training(specs, early_stop), Path(scratch) / "resume")
        run_dirs = [Path(scratch) / f"{spec.policy.label}-s{spec.seed}" for spec in specs]
        seeds = [spec.seed for spec in specs]
        if until is not None:
            paused = train_to(specs[0], seeds, run_dirs, until, checkpointing, deploy=integer_actor)
            _check_returns(specs, [result.returns for result in paused])
            node = _node()
            return [
                RungOutcome(spec.key(), result.env_step, result.returns, result.wall_seconds / len(specs), node)
                for spec, result in zip(specs, paused)
            ]
        trained = train_seeds(specs[0], seeds, run_dirs, stop_rule=stopper, deploy=integer_actor, checkpointing=checkpointing)
        _check_returns(specs, [policy.returns for policy in trained])
        node = _node()
        return [TrainedRun(spec.key(), pack_run(run_dir), node) for spec, run_dir in zip(specs, run_dirs)]


def _check_returns(specs: list[TrainSpec], returns: list[tuple[float, ...]]) -> None:
    for spec, seed_returns in zip(specs, returns):
        if not seed_returns:
            raise TrainingInputError("training evaluated no episodes: final-eval-episodes must be at least 1 for a study")
        if not all(math.isfinite(value) for value in seed_returns):
            raise TaskFailed(f"training of {spec.policy.label} seed {spec.seed} diverged: its evaluation returns are not finite")


def evaluate_run(archive: bytes, episodes: int, seed: tuple[int, ...], sigma: float) -> tuple[tuple[float, ...], str]:
    """The Ray task of ``dse noise``: returns of a packed run's deployed policy under observation noise, and its forward."""
    import torch

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="dse-eval-") as scratch:
        returns, forward = evaluate_deployed(unpack_run(archive, Path(scratch) / "run"), episodes, seed, sigma)
    return tuple(float(value) for value in returns), forward


def task_groups(specs: list[TrainSpec], parts: int, task_per_seed: bool) -> list[list[TrainSpec]]:
    """How one candidate's specs are split into training tasks: ``parts`` of about equal size, or one per seed.

    One part per candidate while several candidates train; the FP32 baseline,
    trained alone, takes one per worker.
    """
    parts = len(specs) if task_per_seed else min(parts, len(specs))
    return [list(specs[part::parts]) for part in range(parts)]


class RayExecutor:
    """Runs ``train_task`` tasks on a local Ray (started here) or on a cluster (``address``).

    ``task_per_seed``: split each candidate's seeds into one task each rather than training them together.
    """

    def __init__(
        self,
        address: str | None,
        workers: int,
        cpus_per_task: float = 1.0,
        threads: int = 1,
        task_per_seed: bool = False,
        checkpoints: CheckpointSettings | None = None,
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
        self._ray = ray
        self._task = ray.remote(num_cpus=cpus_per_task, max_retries=WORKER_RETRIES)(train_task)
        self._evaluation = ray.remote(num_cpus=cpus_per_task, max_retries=WORKER_RETRIES)(evaluate_run)
        self.workers = workers
        self.threads = threads
        self.task_per_seed = task_per_seed
        self.checkpoints = checkpoints
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
        ref = self._task.remote([spec.to_dict() for spec in specs], self.threads, early_stop, self._store, checkpoints, until)
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
    if isinstance(error, (TaskFailed, TrainingInputError, TrainingDiverged)):
        return message
    return f"{type(error).__name__}: {message}"
