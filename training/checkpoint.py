"""Checkpoints from which a training resumes bit for bit, saved as a folder that grows by what changed.

A training's checkpoint folder holds

    state-<env step>.pt      everything but the replay memory's rows: networks, optimizers, every RNG (torch
                             generators, numpy generators, each env's own), normalizers, curve rows, the stop
                             rule's state, and each env's full simulator state (MuJoCo's ``MjData``, warm-start
                             fields included) with its wrappers' counters (the time limit's elapsed steps)
    replay-<from>-<to>.pt    the replay rows every seed wrote in env steps [from, to)

Each save writes the rows added since the previous save (in files of at most
``PIECE_BYTES``, so no save or resume holds more than one piece) and a new state file,
then deletes all but the two latest states and the replay files neither needs; a
training killed while saving leaves the previous state whole, because every file is
written under a temporary name, synced and renamed. A state that cannot be read all
the same (a disk that lost it, a copy cut short) is set aside as ``*.damaged`` with
one line saying so, and the training resumes from the state before it, or from the
start where there is none. What a
save added and what it keeps (``Saved``) is what a copy elsewhere needs to stay
in step, so a 1.7 GB replay memory is sent once, in pieces, not at every save.

Why the whole ``MjData`` and not MuJoCo's integration state: some rewards
(Reacher's) read body positions left by the previous step's forward pass, which
``mjSTATE_INTEGRATION`` does not hold; the copy does. Env objects are restored
into fresh envs of the same id, so nothing here depends on pickling gymnasium
wrappers (MuJoCo envs pickle as their constructor arguments, without state).

The files are pickles of the project's own making, trusted as the run folders are.
Torch is imported when a checkpoint is read or written, so the driver's imports stay light.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from training.config import TrainSpec
from training.errors import TrainingInputError
from training.files import write_whole

CHECKPOINT_VERSION = 1
"""bumped when the state files change meaning; a folder of another version is not resumed"""
DEFAULT_SECONDS = 600.0
"""a save at least every 10 minutes of training: the most work a killed training loses"""
DAMAGED = ".damaged"
"""the suffix of a state file set aside because it cannot be read"""
PIECE_BYTES = 64 * 2**20
"""the most replay bytes (all seeds' rows, both observations) one replay file holds: a save, its copy sent to the
driver's store and a resume each hold one piece at a time, whatever the replay memory's size"""
_STATE = re.compile(r"state-(\d+)\.pt")
_REPLAY = re.compile(r"replay-(\d+)-(\d+)\.pt")
# Attributes of a MuJoCo env that are the simulator or its renderer: copied with mj_copyData, or never saved.
_SIMULATOR = ("model", "data", "mujoco_renderer")


def training_identity(specs: Sequence[TrainSpec], stop_identity: str | None = None) -> str:
    """What a checkpoint stands for: the specs trained together (seeds in order) and the stop rule deciding its end."""
    made_of = {"version": CHECKPOINT_VERSION, "specs": [spec.key() for spec in specs], "stop_rule": stop_identity}
    return hashlib.sha256(json.dumps(made_of, sort_keys=True).encode()).hexdigest()[:20]


@dataclass(frozen=True)
class Saved:
    """One save: the files it wrote, and every file the checkpoint now consists of (the rest were deleted)."""

    written: tuple[Path, ...]
    kept: tuple[str, ...]
    own: tuple[str, ...] = ()
    """the files of this save alone (its state and replay files); ``kept`` also holds the previous save's"""


@dataclass(frozen=True)
class Checkpointing:
    """Where and how often a training saves itself.

    A save happens when either interval has passed since the last one (or the
    start); neither changes what the training computes.
    """

    folder: Path
    every_steps: int | None = None
    """env steps between saves (None: by time only)"""
    every_seconds: float | None = DEFAULT_SECONDS
    """wall seconds between saves (None: by steps only)"""
    on_save: Callable[[Saved], None] | None = None
    """told after each save, e.g. to send the new files to a copy elsewhere"""
    piece_bytes: int = PIECE_BYTES
    """the most bytes of replay rows in one replay file (``PIECE_BYTES``)"""

    def __post_init__(self) -> None:
        if self.every_steps is not None and self.every_steps < 1:
            raise TrainingInputError(f"checkpoint interval {self.every_steps} env steps is invalid: it must be at least 1")
        if self.every_seconds is not None and not self.every_seconds > 0:
            raise TrainingInputError(f"checkpoint interval {self.every_seconds} s is invalid: it must be above 0")


class CheckpointFolder:
    """The files of one training's checkpoint: the latest state and the replay rows it needs."""

    def __init__(self, folder: Path | str):
        self.folder = Path(folder)

    def states(self) -> list[int]:
        """The env steps of the state files present, latest first."""
        if not self.folder.is_dir():
            return []
        steps = [int(match.group(1)) for path in self.folder.iterdir() if (match := _STATE.fullmatch(path.name))]
        return sorted(steps, reverse=True)

    def load(self, identity: str) -> tuple[dict, list[dict]] | None:
        """The latest readable state of the training ``identity`` and its replay segments in order; None when there
        is none. A state that cannot be read is set aside (``*.damaged``, one line on stderr) for the one before it.
        The segments' rows are mapped from their files, not read into memory: a resume copies them into the replay
        memory a page at a time.

        A folder that holds another training's state is an error: resuming from it would give a different training.
        """
        import torch

        for step in self.states():
            path = reading = self.folder / f"state-{step}.pt"
            try:
                state = torch.load(path, weights_only=True)
                segments = []
                for name in state["replay_files"]:
                    reading = self.folder / name
                    segments.append(torch.load(reading, weights_only=True, mmap=True))
            except (OSError, RuntimeError, EOFError, pickle.UnpicklingError, KeyError, TypeError) as error:
                self._set_aside(path, reading, error, step != self.states()[-1])
                continue
            if state.get("identity") != identity:
                raise TrainingInputError(
                    f"checkpoint {path} is of another training ({state.get('identity')}, not {identity}): remove it"
                )
            return state, segments
        return None

    def _set_aside(self, path: Path, unreadable: Path, error: Exception, earlier: bool) -> None:
        """The state ``path`` set aside, because it or a replay file it needs (``unreadable``) cannot be read."""
        damaged = path.with_name(path.name + DAMAGED)
        os.replace(path, damaged)
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        needed = "" if unreadable == path else f", which {path.name} needs,"
        then = "resuming from the save before it" if earlier else "starting the training over"
        print(f"dse: checkpoint {unreadable}{needed} cannot be read ({reason}); {path.name} set aside as {damaged.name}, "
              f"{then}", file=sys.stderr)

    def save(self, state: dict, segments: Iterable[dict], capacity: int, fallback: Sequence[str] = ()) -> Saved:
        """Write ``segments`` (each the rows of env steps [first, end), a file each, drawn one at a time) and
        ``state``; drop what no longer counts.

        ``capacity``: the replay memory's rows, past which older rows are overwritten. ``fallback``: the files of the
        save before (its state and replay files), kept should this one be unreadable.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        step = state["global_step"]
        # the rows still in the ring, from the save before (never from files of a save set aside or half written)
        previous = [name for name in fallback
                    if (match := _REPLAY.fullmatch(name)) and int(match.group(2)) > step - capacity]
        written = []
        for segment in segments:
            name = f"replay-{segment['first']}-{segment['end']}.pt"
            written.append(self.write(name, _serialized(segment)))
            previous.append(name)
        state = {**state, "replay_files": sorted(previous, key=lambda name: int(_REPLAY.fullmatch(name).group(1)))}
        state_name = f"state-{step}.pt"
        written.append(self.write(state_name, _serialized(state)))
        own = (*state["replay_files"], state_name)
        kept = (*own, *(name for name in fallback if name not in own))
        self.keep_only(kept)
        return Saved(tuple(written), kept, own)

    def write(self, name: str, data: bytes) -> Path:
        """One file, written whole under a temporary name, synced, then renamed: a kill never leaves half of it."""
        self.folder.mkdir(parents=True, exist_ok=True)
        return write_whole(self.folder / name, data, sync=True)

    def keep_only(self, names: Sequence[str]) -> None:
        """Delete every file of the folder but ``names`` and the saves set aside as damaged."""
        for path in self.folder.iterdir():
            if path.name not in names and not path.name.endswith(DAMAGED):
                path.unlink(missing_ok=True)


def _serialized(payload: dict) -> bytes:
    import torch

    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


class SaveClock:
    """Decides when a training saves: ``Checkpointing``'s intervals, counted from the start or the last save."""

    def __init__(self, checkpointing: Checkpointing, step: int):
        self.checkpointing = checkpointing
        self.last_step = step
        self.last_time = time.monotonic()

    def due(self, step: int) -> bool:
        plan = self.checkpointing
        if plan.every_steps is not None and step - self.last_step >= plan.every_steps:
            return True
        return plan.every_seconds is not None and time.monotonic() - self.last_time >= plan.every_seconds

    def saved(self, step: int) -> None:
        self.last_step = step
        self.last_time = time.monotonic()


def latest_save(checkpointing: Checkpointing | None, identity: str, overwrite: bool) -> tuple[dict, list[dict]] | None:
    """The save the training ``identity`` resumes from (``CheckpointFolder.load``), or None where it starts afresh:
    without checkpointing, with ``overwrite`` (the checkpoint folder removed first), or with nothing saved yet."""
    if checkpointing is None:
        return None
    if overwrite:
        shutil.rmtree(checkpointing.folder, ignore_errors=True)
    return CheckpointFolder(checkpointing.folder).load(identity)


class Saver:
    """A training's saves: when they are due, and the replay rows each adds.

    A save writes the rows of the env steps since the previous save (or the start
    or resume), but no more than the replay memory holds: older rows are overwritten.
    """

    def __init__(self, checkpointing: Checkpointing, step: int, capacity: int, resumed: dict | None = None):
        self.checkpointing = checkpointing
        self.clock = SaveClock(checkpointing, step)
        self.saved_step = step
        self.capacity = capacity
        """rows of each seed's replay memory (``ReplayBuffer.capacity``)"""
        self.previous: tuple[str, ...] = () if resumed is None else (*resumed["replay_files"], f"state-{step}.pt")
        """the files of the last save (or of the one resumed from), kept until the next save is whole"""

    def due(self, step: int) -> bool:
        return self.clock.due(step)

    def save(self, state: dict, buffers: Sequence, step: int) -> Saved:
        """Save ``state`` (the training but its replay rows, at env step ``step``) with the rows of ``buffers``
        (every seed's ``ReplayBuffer``) added since the last save; then tell ``Checkpointing.on_save``."""
        first = max(self.saved_step, step - self.capacity)
        row_bytes = sum(4 * (2 * buffer.obs.shape[1] + buffer.actions.shape[1] + 2) for buffer in buffers)
        rows = max(1, self.checkpointing.piece_bytes // row_bytes)
        pieces = ({"first": start, "end": min(start + rows, step),
                   "members": [buffer.rows(start, min(start + rows, step)) for buffer in buffers]}
                  for start in range(first, step, rows))
        saved = CheckpointFolder(self.checkpointing.folder).save(state, pieces, self.capacity, self.previous)
        self.previous = saved.own
        self.saved_step = step
        self.clock.saved(step)
        if self.checkpointing.on_save is not None:
            self.checkpointing.on_save(saved)
        return saved


def _wrappers(env) -> list:
    chain = [env]
    while hasattr(chain[-1], "env"):
        chain.append(chain[-1].env)
    return chain


def env_state(env) -> dict:
    """An env's whole state: the unwrapped env's attributes, its simulator's data, its wrappers' counters and flags."""
    unwrapped = env.unwrapped
    simulator = hasattr(unwrapped, "data") and hasattr(unwrapped, "model")
    attributes = {
        name: value for name, value in vars(unwrapped).items() if not (simulator and name in _SIMULATOR)
    }
    wrappers = [
        {name: value for name, value in vars(wrapper).items() if isinstance(value, (bool, int, float, type(None)))}
        for wrapper in _wrappers(env)[:-1]
    ]
    return {
        "attributes": pickle.dumps(attributes),
        "simulator": pickle.dumps(unwrapped.data) if simulator else None,
        "wrappers": wrappers,
    }


def restore_env(env, state: dict) -> None:
    """Put ``env_state``'s state into ``env``, a fresh env of the same id."""
    import mujoco

    unwrapped = env.unwrapped
    vars(unwrapped).update(pickle.loads(state["attributes"]))
    if state["simulator"] is not None:
        mujoco.mj_copyData(unwrapped.data, unwrapped.model, pickle.loads(state["simulator"]))
    wrappers = _wrappers(env)[:-1]
    if len(wrappers) != len(state["wrappers"]):
        raise TrainingInputError(f"checkpoint's env has {len(state['wrappers'])} wrappers, this one {len(wrappers)}")
    for wrapper, saved in zip(wrappers, state["wrappers"]):
        vars(wrapper).update(saved)
