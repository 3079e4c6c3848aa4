"""A training run from start to a finished run folder (``training.run_folder`` describes the folder).

The final evaluation runs the policy as it will be deployed: a caller that can
build the deployed form of a quantized policy (``dse`` builds the integer-only
network from ``policy.onnx``; training knows nothing of hardware) passes it as
``deploy``, and the evaluation runs after the checkpoint and export are written
and before ``complete.json`` seals the folder. Learning-curve points use
training's own float32 forward.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from training.checkpoint import CheckpointFolder, Checkpointing, SaveClock, Saved, env_state, restore_env, training_identity
from training.config import TrainSpec
from training.ddpg import DDPG
from training.envs import make_env
from training.errors import TrainingDiverged, TrainingInputError
from training.evaluation import CURVE_EPISODES, FINAL_EPISODES, Actor, evaluate
from training.export import export_policy
from training.networks import DeployedPolicy, PolicyNet
from training.normalizer import ObsNormalizer
from training.replay import Batch, ReplayBuffer
from training.run_folder import COMPLETE, FINAL_EVAL, FLOAT_FORWARD, RUN_KIND, file_hashes, read_run, write_eval
from training.sac import SAC

CURVE_FIELDS = ("env_step", "return_mean", "return_std", "wall_seconds")
AGENTS = {"sac": SAC, "ddpg": DDPG}
Deploy = Callable[[Path], Actor]
"""Builds a quantized policy's deployed form from its run folder (``checkpoint.pt`` and ``policy.onnx`` written)."""


@dataclass(frozen=True)
class TrainedPolicy:
    """What a finished training run hands on."""

    run_dir: Path
    spec: TrainSpec
    returns: tuple[float, ...]
    """final deterministic evaluation returns, one per episode"""
    wall_seconds: float

    @property
    def mean_return(self) -> float:
        return float(np.mean(self.returns))


@dataclass(frozen=True)
class RungResult:
    """A seed's training paused at an env step short of its end (``train_to``): its policy's returns there."""

    spec: TrainSpec
    env_step: int
    returns: tuple[float, ...]
    """the final evaluation's episodes, run on the policy as it is at ``env_step`` as the final evaluation runs it"""
    wall_seconds: float
    """of the training so far, all its resumptions together (seeds trained together share it)"""


@dataclass(frozen=True)
class Progress:
    """What a progress display is told every few hundred steps."""

    env_step: int
    total_steps: int
    last_eval_return: float | None


def _versions() -> dict[str, str]:
    names = ("torch", "brevitas", "gymnasium", "mujoco", "qonnx", "numpy")
    return {name: metadata.version(name) for name in names}


def _prepare_run_dir(out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists() and any(out_dir.iterdir()):
        if not overwrite:
            raise TrainingInputError(f"run folder {out_dir} already exists and is not empty (pass --overwrite)")
        if not (out_dir / "config.json").exists():
            raise TrainingInputError(f"refusing to overwrite {out_dir}: it is not a run folder")
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)


class _Curve:
    """The learning curve: a CSV in the run folder, and TensorBoard when it is installed.

    A resumed training starts it again from the rows saved with its checkpoint
    (``rows``) and drops TensorBoard's points past the checkpoint's env step.
    """

    def __init__(self, run_dir: Path, rows: Sequence[list] = (), env_step: int = 0):
        self.rows = [list(row) for row in rows]
        self.file = open(run_dir / "curve.csv", "w", newline="")
        self.writer = csv.writer(self.file)
        self.writer.writerow(CURVE_FIELDS)
        self.writer.writerows(self.rows)
        self.file.flush()
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            self.tensorboard = None
        else:
            self.tensorboard = SummaryWriter(str(run_dir / "tensorboard"), purge_step=env_step or None)

    def add(self, env_step: int, returns: np.ndarray, wall_seconds: float) -> None:
        row = [env_step, float(returns.mean()), float(returns.std()), round(wall_seconds, 3)]
        self.rows.append(row)
        self.writer.writerow(row)
        self.file.flush()
        if self.tensorboard is not None:
            self.tensorboard.add_scalar("eval/return_mean", float(returns.mean()), env_step)

    def close(self) -> None:
        self.file.close()
        if self.tensorboard is not None:
            self.tensorboard.close()


def _write_config(spec: TrainSpec, out_dir: Path, obs_dim: int, low: np.ndarray, high: np.ndarray) -> None:
    (out_dir / "config.json").write_text(
        json.dumps(
            {
                "kind": RUN_KIND,
                "spec": spec.to_dict(),
                "key": spec.key(),
                "obs_dim": obs_dim,
                "action_low": low.tolist(),
                "action_high": high.tolist(),
                "onnx_output": "pre_tanh: action = tanh(output), then scaled to the action bounds",
                "versions": _versions(),
            },
            indent=2,
        )
    )


def step_env(env, obs: np.ndarray, action: np.ndarray, buffer: ReplayBuffer) -> np.ndarray:
    """One env step into the replay buffer; returns the observation the policy acts on next.

    The stored transition keeps the episode's true last observation, and only
    termination (not truncation by a time limit) stops bootstrapping.
    """
    next_obs, reward, terminated, truncated, _ = env.step(action)
    buffer.add(obs, action, reward, next_obs, terminated)
    if terminated or truncated:
        next_obs, _ = env.reset()
    return next_obs


def member_specs(spec: TrainSpec, seeds: Sequence[int]) -> list[TrainSpec]:
    """``spec`` once per seed: the runs one batched training makes."""
    return [dataclasses.replace(spec, seed=seed) for seed in seeds]


class StopRule(Protocol):
    """Decides at each curve evaluation whether a training goes on (``objectives.early_stop``)."""

    name: str
    identity: str
    """everything its decisions depend on, as one string: a stopped run stands only for a rule of the same identity"""

    def check(self, env_step: int, mean_return: float) -> str | None:
        """Why to stop now, given the seeds' mean return at this evaluation; None to go on."""

    def state_dict(self) -> dict:
        """What its next decisions depend on besides its identity (saved with a training's checkpoint)."""

    def load_state_dict(self, state: dict) -> None:
        """Continue from ``state_dict``'s state."""


class _Member:
    """One seed's own state in a training: run folder, env, RNGs, normalizer, replay, curve."""

    def __init__(self, spec: TrainSpec, out_dir: Path, obs_dim: int, act_dim: int):
        self.spec = spec
        self.out_dir = out_dir
        self.env = make_env(spec.env_id)
        self.generator = torch.Generator().manual_seed(spec.seed)
        self.rng = np.random.default_rng(spec.seed)
        self.normalizer = ObsNormalizer.fresh(obs_dim, spec.obs_clip, spec.normalize)
        self.buffer = ReplayBuffer(min(spec.hyper.buffer_size, spec.total_steps), obs_dim, act_dim)
        self.curve = _Curve(out_dir)
        self.obs, _ = self.env.reset(seed=spec.seed)
        self.normalizer.update(self.obs)

    def state_dict(self) -> dict:
        """Everything of this seed but its replay rows (``ReplayBuffer.rows``)."""
        return {
            "generator": self.generator.get_state(),
            "rng": self.rng.bit_generator.state,
            "normalizer": self.normalizer.state_dict(),
            "replay": {"position": self.buffer.position, "size": self.buffer.size},
            "obs": torch.from_numpy(np.array(self.obs)),
            "env": env_state(self.env),
            "curve": self.curve.rows,
        }

    def load_state_dict(self, state: dict, env_step: int) -> None:
        self.generator.set_state(state["generator"])
        self.rng.bit_generator.state = state["rng"]
        self.normalizer = ObsNormalizer.from_state_dict(state["normalizer"])
        self.buffer.position, self.buffer.size = state["replay"]["position"], state["replay"]["size"]
        self.obs = state["obs"].numpy()
        restore_env(self.env, state["env"])
        self.curve.close()
        self.curve = _Curve(self.out_dir, state["curve"], env_step)


class Trainer:
    """A training of one or more seeds of the same spec, advanced one env step (of every seed) at a time.

    Each seed has its own run folder, env, RNGs, normalizer and replay; their
    networks are the members of one set of stacked networks
    (``training.networks``), so a seed trained here gives the same run as it
    trained alone. ``train`` and ``train_seeds`` drive it to the end; a benchmark
    can interleave several. All its state lives on the instance, none in globals.

    ``deploy`` builds the deployed form of a quantized policy for its final
    evaluation; without it (and for FP32 policies) the final evaluation runs
    training's float32 forward, and ``eval.json`` says which ran.

    ``checkpointing`` saves the whole training now and then
    (``training.checkpoint``); a Trainer made on the same specs, stop rule and
    checkpoint folder continues from the latest save, and ends bit for bit as
    one that ran straight through (``overwrite`` starts over instead).
    """

    def __init__(
        self,
        specs: Sequence[TrainSpec],
        out_dirs: Sequence[Path | str],
        *,
        overwrite: bool = False,
        stop_rule: StopRule | None = None,
        deploy: Deploy | None = None,
        checkpointing: Checkpointing | None = None,
    ):
        if not specs or len(specs) != len(out_dirs):
            raise TrainingInputError(
                f"a training needs one run folder per spec: {len(specs)} specs, {len(out_dirs)} folders"
            )
        spec = specs[0]
        differing = {key for other in specs for key, value in other.to_dict().items() if value != spec.to_dict()[key]}
        if differing - {"seed"}:
            raise TrainingInputError(
                f"seeds trained together must differ only in their seed, not in {', '.join(sorted(differing - {'seed'}))}"
            )
        self.spec = spec
        env = make_env(spec.env_id)
        self.obs_dim = env.observation_space.shape[0]
        self.low = env.action_space.low.astype(np.float64)
        self.high = env.action_space.high.astype(np.float64)
        env.close()
        self.identity = training_identity(specs, stop_rule.identity if stop_rule is not None else None)
        self.checkpointing = checkpointing
        saved = None
        if checkpointing is not None:
            if overwrite:
                shutil.rmtree(checkpointing.folder, ignore_errors=True)
            saved = CheckpointFolder(checkpointing.folder).load(self.identity)
        for out_dir in out_dirs:
            # a resumed training writes its run folders again from the checkpoint
            _prepare_run_dir(Path(out_dir), overwrite or saved is not None)
        self.started = time.perf_counter()
        self.members = []
        for member_spec, out_dir in zip(specs, out_dirs):
            _write_config(member_spec, Path(out_dir), self.obs_dim, self.low, self.high)
            self.members.append(_Member(member_spec, Path(out_dir), self.obs_dim, len(self.low)))
        self.agent = AGENTS[spec.algo](
            self.obs_dim,
            self.low,
            self.high,
            spec.policy,
            spec.hyper,
            [member.spec.seed for member in self.members],
            [member.generator for member in self.members],
        )
        self.global_step = 0
        self.last_eval: float | None = None
        self.stop_rule = stop_rule
        self.stopped_early: dict | None = None
        self.deploy = deploy
        self.resumed_at: list[int] = []
        """the env steps this training was resumed from, in order"""
        self.capacity = self.members[0].buffer.capacity
        if saved is not None:
            self._resume(*saved)
        self._saved_step = self.global_step
        self._clock = SaveClock(checkpointing, self.global_step) if checkpointing is not None else None

    @property
    def done(self) -> bool:
        return self.global_step >= self.spec.total_steps or self.stopped_early is not None

    def step(self) -> None:
        """One env step of every seed, then (after learning starts) one update, then curve points when due."""
        spec, hyper = self.spec, self.spec.hyper
        if self.global_step < hyper.learning_starts:
            actions = [member.rng.uniform(self.low, self.high) for member in self.members]
        else:
            obs = torch.from_numpy(np.stack([member.normalizer(member.obs) for member in self.members])).unsqueeze(1)
            actions = self.agent.explore(obs)[:, 0].numpy().astype(np.float64)
        for member, action in zip(self.members, actions):
            member.obs = step_env(member.env, member.obs, action, member.buffer)
            member.normalizer.update(member.obs)
        if self.global_step > hyper.learning_starts:
            batch = Batch.stack(
                [
                    member.buffer.sample(hyper.batch_size, member.generator, member.normalizer.torch_normalize)
                    for member in self.members
                ]
            )
            self.agent.update(batch, self.global_step)
        self.global_step += 1
        if spec.eval_every and self.global_step % spec.eval_every == 0:
            self._check_finite()
            means = []
            for index, member in enumerate(self.members):
                returns = evaluate(
                    self.deployed(index),
                    member.normalizer,
                    spec.env_id,
                    spec.eval_episodes,
                    (CURVE_EPISODES, member.spec.seed),
                )
                member.curve.add(self.global_step, returns, time.perf_counter() - self.started)
                means.append(float(returns.mean()))
            self.last_eval = float(np.mean(means))
            if self.stop_rule is not None and self.global_step < spec.total_steps:
                reason = self.stop_rule.check(self.global_step, self.last_eval)
                if reason is not None:
                    self.stopped_early = {
                        "rule": self.stop_rule.name,
                        "identity": self.stop_rule.identity,
                        "env_step": self.global_step,
                        "reason": reason,
                    }
        if self._clock is not None and not self.done and self._clock.due(self.global_step):
            self.save_checkpoint()

    def save_checkpoint(self) -> Saved:
        """Save the training as it is now: the replay rows added since the last save, and everything else."""
        first = max(self._saved_step, self.global_step - self.capacity)
        segment = {
            "first": first,
            "end": self.global_step,
            "members": [member.buffer.rows(first, self.global_step) for member in self.members],
        }
        state = {
            "identity": self.identity,
            "global_step": self.global_step,
            "last_eval": self.last_eval,
            "stopped_early": self.stopped_early,
            "resumed_at": self.resumed_at,
            "wall_seconds": time.perf_counter() - self.started,
            "agent": self.agent.state_dict(),
            "stop_rule": self.stop_rule.state_dict() if self.stop_rule is not None else None,
            "members": [member.state_dict() for member in self.members],
        }
        saved = CheckpointFolder(self.checkpointing.folder).save(state, segment, self.capacity)
        self._saved_step = self.global_step
        self._clock.saved(self.global_step)
        if self.checkpointing.on_save is not None:
            self.checkpointing.on_save(saved)
        return saved

    def _resume(self, state: dict, segments: list[dict]) -> None:
        self.global_step = state["global_step"]
        self.last_eval = state["last_eval"]
        self.stopped_early = state["stopped_early"]
        self.resumed_at = [*state["resumed_at"], self.global_step]
        self.started = time.perf_counter() - state["wall_seconds"]
        self.agent.load_state_dict(state["agent"])
        if self.stop_rule is not None:
            self.stop_rule.load_state_dict(state["stop_rule"])
        for member, member_state in zip(self.members, state["members"]):
            member.load_state_dict(member_state, self.global_step)
        for segment in segments:
            for member, rows in zip(self.members, segment["members"]):
                member.buffer.put_rows(segment["first"], rows)

    def deployed(self, index: int) -> DeployedPolicy:
        """Seed ``index``'s policy as it is now, as a deployed policy of its own."""
        return DeployedPolicy(self.agent.policy.member(index).eval())

    def _check_finite(self) -> None:
        """Stop at the first sign of divergence: NaN or infinite weights would still make a policy that runs."""
        members = len(self.members)
        finite = torch.ones(members, dtype=torch.bool)
        for tensor in [*self.agent.policy.parameters(), *self.agent.policy.buffers()]:
            if tensor.is_floating_point() and tensor.dim() > 0 and tensor.shape[0] == members:
                finite &= torch.isfinite(tensor.detach()).reshape(members, -1).all(dim=1)
        if not bool(finite.all()):
            seeds = ", ".join(str(member.spec.seed) for member, ok in zip(self.members, finite) if not ok)
            raise TrainingDiverged(
                f"training of {self.spec.policy.label} diverged by env step {self.global_step}: "
                f"the policy weights of seed {seeds} are not finite"
            )

    def finish(self) -> list[TrainedPolicy]:
        """Every seed's checkpoint, export and final evaluation; then every seed's completion mark.

        The marks come last and together, so a training stopped while it finishes
        (its process or node killed) leaves no seed's folder looking finished.
        """
        self._check_finite()
        final_returns = []
        for index, member in enumerate(self.members):
            member.env.close()
            member.curve.close()
            returns, forward = self._evaluate_deployed(index)
            write_eval(member.out_dir, FINAL_EVAL, returns, noise_sigma=0.0, seed=(FINAL_EPISODES, member.spec.seed),
                       forward=forward)
            final_returns.append(returns)
        wall_seconds = time.perf_counter() - self.started
        for member in self.members:
            (member.out_dir / COMPLETE).write_text(
                json.dumps(
                    {
                        "env_steps": self.global_step,
                        "wall_seconds": round(wall_seconds, 3),
                        "seeds_trained_together": len(self.members),
                        **({"resumed_at": self.resumed_at} if self.resumed_at else {}),
                        **({"stopped_early": self.stopped_early} if self.stopped_early else {}),
                        "sha256": file_hashes(member.out_dir),
                    },
                    indent=2,
                )
            )
        return [
            TrainedPolicy(member.out_dir, member.spec, returns, wall_seconds)
            for member, returns in zip(self.members, final_returns)
        ]

    def pause(self) -> list[RungResult]:
        """Save the training, then evaluate every seed's policy as it is now, as the final evaluation would.

        A training made again on the same checkpoint folder continues from here;
        the evaluation touches no training state, so the training then goes on as
        if it had never paused.
        """
        self._check_finite()
        self.save_checkpoint()
        wall_seconds = time.perf_counter() - self.started
        results = []
        for index, member in enumerate(self.members):
            member.env.close()
            member.curve.close()
            returns, _ = self._evaluate_deployed(index)
            results.append(RungResult(member.spec, self.global_step, returns, wall_seconds))
        return results

    def _evaluate_deployed(self, index: int) -> tuple[tuple[float, ...], str]:
        """Seed ``index``'s checkpoint and export written, then its returns as deployed (``deploy``'s form of a
        quantized policy) on the seed's own final-evaluation episodes, and the forward that ran them."""
        member = self.members[index]
        trained = self.deployed(index)
        torch.save(
            {"policy": self.agent.policy.member_state_dict(index), "normalizer": member.normalizer.state_dict()},
            member.out_dir / "checkpoint.pt",
        )
        export_policy(trained.net, self.obs_dim, member.out_dir / "policy.onnx")
        spec = member.spec
        if spec.policy.fp32 or self.deploy is None:
            actor = Actor(trained, FLOAT_FORWARD)
        else:
            actor = self.deploy(member.out_dir)
        seed = (FINAL_EPISODES, spec.seed)
        returns: tuple[float, ...] = ()
        if spec.final_eval_episodes:
            returns = tuple(
                float(r) for r in evaluate(actor.act, member.normalizer, spec.env_id, spec.final_eval_episodes, seed)
            )
        return returns, actor.forward


def train_seeds(
    spec: TrainSpec,
    seeds: Sequence[int],
    out_dirs: Sequence[Path | str],
    *,
    overwrite: bool = False,
    on_progress: Callable[[Progress], None] | None = None,
    stop_rule: StopRule | None = None,
    deploy: Deploy | None = None,
    checkpointing: Checkpointing | None = None,
) -> list[TrainedPolicy]:
    """Train ``spec`` once per seed, all together in this process, into ``out_dirs``; the finished runs in order.

    ``stop_rule`` may end the training early (all seeds at once); the runs then
    say so in ``complete.json`` and still hold a policy, its export and its
    final evaluation. ``deploy`` and ``checkpointing``: see ``Trainer``; the
    checkpoint folder is removed once the runs are finished. Uses the calling process's torch thread setting; the CLI
    sets one thread per training, which is fastest when several trainings share the machine.
    """
    trainer = Trainer(
        member_specs(spec, seeds), out_dirs, overwrite=overwrite, stop_rule=stop_rule, deploy=deploy,
        checkpointing=checkpointing,
    )
    _advance(trainer, spec.total_steps, on_progress)
    finished = trainer.finish()
    if checkpointing is not None:
        shutil.rmtree(checkpointing.folder, ignore_errors=True)
    return finished


def train_to(
    spec: TrainSpec,
    seeds: Sequence[int],
    out_dirs: Sequence[Path | str],
    env_step: int,
    checkpointing: Checkpointing,
    *,
    deploy: Deploy | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> list[RungResult]:
    """Train ``spec``'s seeds together up to ``env_step`` (short of ``spec.total_steps``), resuming from
    ``checkpointing``'s folder where it holds a save, and pause there: saved, and every seed evaluated.

    ``train_seeds`` (or ``train_to`` a later step) on the same folder goes on from the pause,
    and ends bit for bit as a training that never paused.
    """
    if not 0 < env_step < spec.total_steps:
        raise TrainingInputError(f"a pause at env step {env_step} is invalid: it must lie in 1..{spec.total_steps - 1}")
    trainer = Trainer(member_specs(spec, seeds), out_dirs, overwrite=False, deploy=deploy, checkpointing=checkpointing)
    if trainer.global_step > env_step:
        raise TrainingInputError(
            f"the save in {checkpointing.folder} is at env step {trainer.global_step}, past the pause at {env_step}"
        )
    _advance(trainer, env_step, on_progress)
    return trainer.pause()


def _advance(trainer: Trainer, env_step: int, on_progress: Callable[[Progress], None] | None) -> None:
    """Step ``trainer`` until it is done or at ``env_step``."""
    while not trainer.done and trainer.global_step < env_step:
        trainer.step()
        step = trainer.global_step
        if on_progress is not None and (step % 200 == 0 or trainer.done):
            on_progress(Progress(step, trainer.spec.total_steps, trainer.last_eval))


def train(
    spec: TrainSpec,
    out_dir: Path | str,
    *,
    overwrite: bool = False,
    on_progress: Callable[[Progress], None] | None = None,
    deploy: Deploy | None = None,
) -> TrainedPolicy:
    """Train ``spec`` (its one seed) into ``out_dir`` and return the finished run."""
    return train_seeds(spec, [spec.seed], [out_dir], overwrite=overwrite, on_progress=on_progress, deploy=deploy)[0]


def load_policy(run_dir: Path | str) -> tuple[DeployedPolicy, ObsNormalizer]:
    """The deployed policy (normalized obs batch -> action in [-1, 1]) and its frozen normalizer."""
    config = read_run(run_dir)
    spec = TrainSpec.from_dict(config["spec"])
    try:
        checkpoint = torch.load(Path(run_dir) / "checkpoint.pt", weights_only=True)
        net = PolicyNet.from_member_state_dict(
            config["obs_dim"], len(config["action_low"]), spec.policy, checkpoint["policy"]
        )
    except (OSError, RuntimeError, KeyError) as error:
        raise TrainingInputError(f"checkpoint of {run_dir} cannot be read: {error}") from None
    return DeployedPolicy(net.eval()), ObsNormalizer.from_state_dict(checkpoint["normalizer"])
