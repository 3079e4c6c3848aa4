"""What a training task is and returns: the Ray tasks (training, evaluation) run on a worker, and the policy cache
their runs go to.

A trained policy lives in the driver's cache, ``cache/train/<policy>-s<seed>-<spec hash>/``;
a run folder with its completion mark, whose files match the hashes that mark
holds, is never trained again, so candidates that differ only in folding, and a
resumed study, reuse it. A task is given the specs of one candidate's seeds that
are not in the cache and trains them together (``training.train_seeds``) in a
scratch folder of whichever node runs it; it returns each run folder packed as
bytes, which the driver unpacks into its cache. No filesystem is shared between
the driver and the nodes.
"""

from __future__ import annotations

import errno
import io
import json
import math
import os
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dse.study.deploy import evaluate_deployed, expected_forward, integer_actor
from objectives.early_stop import EarlyStopper, Fp32Curve, early_stop_rule
from training import (
    TrainingInputError,
    TrainSpec,
    read_eval,
    read_run,
    verify_run,
)
from training.checkpoint import training_identity
from training.files import no_space
from training.run_folder import COMPLETE


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
    """what computed the actions of its final evaluation (``dse.study.deploy``)"""
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
    incoming = None
    try:
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        incoming = Path(tempfile.mkdtemp(prefix=f".{run_dir.name}.", dir=run_dir.parent))
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            tar.extractall(incoming, filter="data")
        if run_dir.exists():
            shutil.rmtree(run_dir)
        os.replace(incoming, run_dir)
    except OSError as error:
        if error.errno == errno.ENOSPC:  # name the run and what it needs, not a file of the temporary folder
            with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
                raise no_space(run_dir, sum(member.size for member in tar.getmembers())) from None
        raise
    finally:
        if incoming is not None:
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


def task_stopper(specs: list[TrainSpec], early_stop: dict | None) -> EarlyStopper | None:
    """The early-stop rule of a task (the seeds it trains together): ``early_stop`` holds its mode and the FP32 curve
    (``Fp32Curve.to_dict``); None without one."""
    if not early_stop:
        return None
    reference = Fp32Curve.from_dict(early_stop["reference"])
    return EarlyStopper(early_stop_rule(early_stop["mode"]), reference, specs[0].total_steps)


def task_training(specs: list[TrainSpec], early_stop: dict | None) -> str:
    """The checkpoint name of a task's training (``training.checkpoint.training_identity``)."""
    stopper = task_stopper(specs, early_stop)
    return training_identity(specs, stopper.identity if stopper is not None else None)


def _checkpointing(store, settings: dict, training: str, folder: Path):
    """Resume from the store's files of ``training``, if any; send each new save to it."""
    import ray

    from training.checkpoint import Checkpointing

    folder.mkdir()
    for name in ray.get(store.names.remote(training)):
        (folder / name).write_bytes(ray.get(store.read.remote(training, name)))

    def send(saved) -> None:  # a file at a time, the state last: the store's previous save stays whole till then
        for path in saved.written:
            ray.get(store.put.remote(training, {path.name: path.read_bytes()}, list(saved.kept)))

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

    ``early_stop``: see ``task_stopper``, or None. ``store``: the ``CheckpointStore``
    to resume from and save to, every ``checkpoints`` steps or seconds
    (``CheckpointSettings``' fields); None trains without saving. ``until``: pause
    at this env step (a rung) and return the seeds' returns there instead
    (needs the store). Non-finite returns fail the task, naming the seed.
    """
    import torch

    from training import train_seeds, train_to

    specs = [TrainSpec.from_dict(spec_dict) for spec_dict in spec_dicts]
    torch.set_num_threads(threads)
    stopper = task_stopper(specs, early_stop)
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
