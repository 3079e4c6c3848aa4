"""A training run from start to a finished run folder (``training.run_folder`` describes the folder).

The final evaluation runs the policy as it will be deployed: a caller that can
build the deployed form of a quantized policy (``dse`` builds the integer-only
network from ``policy.onnx``; training knows nothing of hardware) passes it as
``deploy``, and the evaluation runs after the checkpoint and export are written
and before ``complete.json`` seals the folder. Learning-curve points use
training's own float32 forward.

The loop is ``Trainer``; its parts live beside it: each seed's own state
(``training.member``), the learning curve and the stop rule (``training.curve``),
the saves a training resumes from (``training.checkpoint``), and the files of
its run folders (``training.run_folder``, ``training.policy_files``).
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from training.checkpoint import Checkpointing, Saved, Saver, latest_save, training_identity
from training.config import TrainSpec
from training.curve import StopRule, stop_record
from training.ddpg import DDPG
from training.envs import env_spaces
from training.errors import TrainingDiverged, TrainingInputError
from training.evaluation import FINAL_EPISODES, Actor, evaluate
from training.member import Member
from training.member import step_env as step_env  # re-exported: tests import it from here
from training.networks import DeployedPolicy
from training.policy_files import write_policy
from training.replay import Batch
from training.run_folder import FINAL_EVAL, FLOAT_FORWARD, prepare_run_dir, write_complete, write_config, write_eval
from training.sac import SAC

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


def member_specs(spec: TrainSpec, seeds: Sequence[int]) -> list[TrainSpec]:
    """``spec`` once per seed: the runs one batched training makes."""
    return [dataclasses.replace(spec, seed=seed) for seed in seeds]


class Trainer:
    """A training of one or more seeds of the same spec, advanced one env step (of every seed) at a time.

    Each seed has its own run folder, env, RNGs, normalizer and replay
    (``training.member``); their networks are the members of one set of stacked
    networks (``training.networks``), so a seed trained here gives the same run as
    it trained alone. ``train`` and ``train_seeds`` drive it to the end; a benchmark
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
        self.spec = spec = _common_spec(specs, out_dirs)
        self.obs_dim, self.low, self.high = env_spaces(spec.env_id)
        self.identity = training_identity(specs, stop_rule.identity if stop_rule is not None else None)
        saved = latest_save(checkpointing, self.identity, overwrite)
        for out_dir in out_dirs:
            # a resumed training writes its run folders again from the checkpoint
            prepare_run_dir(Path(out_dir), overwrite or saved is not None)
        self.started = time.perf_counter()
        self.members = []
        for member_spec, out_dir in zip(specs, out_dirs):
            write_config(member_spec, Path(out_dir), self.obs_dim, self.low, self.high)
            self.members.append(Member(member_spec, Path(out_dir), self.obs_dim, len(self.low)))
        # made after the members: each seed's initial weights come from its own generator
        seeds, generators = [member.spec.seed for member in self.members], [member.generator for member in self.members]
        self.agent = AGENTS[spec.algo](self.obs_dim, self.low, self.high, spec.policy, spec.hyper, seeds, generators)
        self.global_step = 0
        self.last_eval: float | None = None
        self.stop_rule = stop_rule
        self.stopped_early: dict | None = None
        self.deploy = deploy
        self.resumed_at: list[int] = []
        """the env steps this training was resumed from, in order"""
        if saved is not None:
            self._resume(*saved)
        capacity = self.members[0].buffer.capacity
        resumed = saved[0] if saved is not None else None
        self._saver = Saver(checkpointing, self.global_step, capacity, resumed) if checkpointing is not None else None

    @property
    def done(self) -> bool:
        return self.global_step >= self.spec.total_steps or self.stopped_early is not None

    def step(self) -> None:
        """One env step of every seed, then (after learning starts) one update, then curve points when due."""
        for member, action in zip(self.members, self._actions()):
            member.step(action)
        if self.global_step > self.spec.hyper.learning_starts:
            batch = Batch.stack([member.sample(self.spec.hyper.batch_size) for member in self.members])
            self.agent.update(batch, self.global_step)
        self.global_step += 1
        if self.spec.eval_every and self.global_step % self.spec.eval_every == 0:
            self._curve_points()
        if self._saver is not None and not self.done and self._saver.due(self.global_step):
            self.save_checkpoint()

    def _actions(self) -> Sequence[np.ndarray]:
        """Every seed's next action: uniform in the action bounds until learning starts, then its policy's exploration."""
        if self.global_step < self.spec.hyper.learning_starts:
            return [member.rng.uniform(self.low, self.high) for member in self.members]
        obs = torch.from_numpy(np.stack([member.normalizer(member.obs) for member in self.members])).unsqueeze(1)
        return self.agent.explore(obs)[:, 0].numpy().astype(np.float64)

    def _curve_points(self) -> None:
        """Every seed's learning-curve point; then the stop rule, given the seeds' mean return, may end the training."""
        self._check_finite()
        means = [
            member.add_curve_point(self.deployed(index), self.global_step, self.started)
            for index, member in enumerate(self.members)
        ]
        self.last_eval = float(np.mean(means))
        stopped = stop_record(self.stop_rule, self.global_step, self.spec.total_steps, self.last_eval)
        if stopped is not None:
            self.stopped_early = stopped

    def save_checkpoint(self) -> Saved:
        """Save the training as it is now: the replay rows added since the last save, and everything else."""
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
        return self._saver.save(state, [member.buffer for member in self.members], self.global_step)

    def _resume(self, state: dict, segments: list[dict]) -> None:
        """Continue from a save (``save_checkpoint``'s state and its replay segments, oldest first)."""
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
        for member in self.members:
            member.buffer.settle()

    def deployed(self, index: int) -> DeployedPolicy:
        """Seed ``index``'s policy as it is now, as a deployed policy of its own."""
        return DeployedPolicy(self.agent.policy.member(index).eval())

    def _check_finite(self) -> None:
        """Stop at the first sign of divergence: NaN or infinite weights would still make a policy that runs."""
        finite = self.agent.policy.finite_members()
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
            member.close()
            returns, forward = self._evaluate_deployed(index)
            write_eval(member.out_dir, FINAL_EVAL, returns, noise_sigma=0.0, seed=(FINAL_EPISODES, member.spec.seed),
                       forward=forward)
            final_returns.append(returns)
        wall_seconds = time.perf_counter() - self.started
        for member in self.members:
            write_complete(member.out_dir, env_steps=self.global_step, wall_seconds=wall_seconds,
                           seeds_trained_together=len(self.members), resumed_at=self.resumed_at,
                           stopped_early=self.stopped_early)  # fmt: skip
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
            member.close()
            returns, _ = self._evaluate_deployed(index)
            results.append(RungResult(member.spec, self.global_step, returns, wall_seconds))
        return results

    def _evaluate_deployed(self, index: int) -> tuple[tuple[float, ...], str]:
        """Seed ``index``'s checkpoint and export written, then its returns as deployed (``deploy``'s form of a
        quantized policy) on the seed's own final-evaluation episodes, and the forward that ran them."""
        member, trained = self.members[index], self.deployed(index)
        write_policy(member.out_dir, trained, self.agent.policy.member_state_dict(index), member.normalizer, self.obs_dim)
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


def _common_spec(specs: Sequence[TrainSpec], out_dirs: Sequence[Path | str]) -> TrainSpec:
    """The spec of seeds trained together, which must differ only in their seed, each with a run folder of its own."""
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
    return spec


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
