"""A training run from start to a finished run folder, and reading one back.

A run folder holds:
    config.json      the TrainSpec, env spaces, library versions
    checkpoint.pt    policy state (weights, activation scales), normalizer
    policy.onnx      QONNX (FP32: plain ONNX) of the policy up to the output quantizer
    curve.csv        the learning curve (env_step, return_mean, return_std, wall_seconds)
    eval.json        the final deterministic evaluation
    complete.json    written last: a folder without it is not a finished run
"""

from __future__ import annotations

import csv
import json
import shutil
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from training.config import TrainSpec
from training.ddpg import DDPG
from training.envs import make_env
from training.errors import TrainingInputError
from training.evaluate import evaluate
from training.export import export_policy
from training.networks import DeployedPolicy, PolicyNet
from training.normalizer import ObsNormalizer
from training.replay import ReplayBuffer
from training.sac import SAC

RUN_KIND = "dse-train-run"
CURVE_FIELDS = ("env_step", "return_mean", "return_std", "wall_seconds")
AGENTS = {"sac": SAC, "ddpg": DDPG}
# Eval episodes of a learning curve use seeds far from the training env's.
EVAL_SEED_OFFSET = 1_000_000


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
    """The learning curve: a CSV in the run folder, and TensorBoard when it is installed."""

    def __init__(self, run_dir: Path):
        self.file = open(run_dir / "curve.csv", "w", newline="")
        self.writer = csv.writer(self.file)
        self.writer.writerow(CURVE_FIELDS)
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            self.tensorboard = None
        else:
            self.tensorboard = SummaryWriter(str(run_dir / "tensorboard"))

    def add(self, env_step: int, returns: np.ndarray, wall_seconds: float) -> None:
        self.writer.writerow([env_step, float(returns.mean()), float(returns.std()), round(wall_seconds, 3)])
        self.file.flush()
        if self.tensorboard is not None:
            self.tensorboard.add_scalar("eval/return_mean", float(returns.mean()), env_step)

    def close(self) -> None:
        self.file.close()
        if self.tensorboard is not None:
            self.tensorboard.close()


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


class Trainer:
    """One training run, advanced one env step at a time.

    ``train`` drives it to the end; a benchmark can interleave several. All its
    state (env, RNGs, networks, replay) lives on the instance, none in globals.
    """

    def __init__(self, spec: TrainSpec, out_dir: Path | str, *, overwrite: bool = False):
        self.spec = spec
        self.out_dir = Path(out_dir)
        self.env = make_env(spec.env_id)
        _prepare_run_dir(self.out_dir, overwrite)
        self.started = time.perf_counter()
        self.obs_dim = self.env.observation_space.shape[0]
        self.low = self.env.action_space.low.astype(np.float64)
        self.high = self.env.action_space.high.astype(np.float64)
        (self.out_dir / "config.json").write_text(
            json.dumps(
                {
                    "kind": RUN_KIND,
                    "spec": spec.to_dict(),
                    "key": spec.key(),
                    "obs_dim": self.obs_dim,
                    "action_low": self.low.tolist(),
                    "action_high": self.high.tolist(),
                    "onnx_output": "pre_tanh: action = tanh(output), then scaled to the action bounds",
                    "versions": _versions(),
                },
                indent=2,
            )
        )
        self.generator = torch.Generator().manual_seed(spec.seed)
        self.rng = np.random.default_rng(spec.seed)
        with torch.random.fork_rng():
            torch.manual_seed(spec.seed)
            self.agent = AGENTS[spec.algo](self.obs_dim, self.low, self.high, spec.policy, spec.hyper, self.generator)
        self.normalizer = ObsNormalizer.fresh(self.obs_dim, spec.obs_clip, spec.normalize)
        self.buffer = ReplayBuffer(min(spec.hyper.buffer_size, spec.total_steps), self.obs_dim, len(self.low))
        self.curve = _Curve(self.out_dir)
        self.deployed = DeployedPolicy(self.agent.policy)
        self.last_eval: float | None = None
        self.global_step = 0
        self.obs, _ = self.env.reset(seed=spec.seed)
        self.normalizer.update(self.obs)

    @property
    def done(self) -> bool:
        return self.global_step >= self.spec.total_steps

    def step(self) -> None:
        """One env step, then (after learning starts) one update, then a curve point when due."""
        spec, hyper = self.spec, self.spec.hyper
        if self.global_step < hyper.learning_starts:
            action = self.rng.uniform(self.low, self.high)
        else:
            obs = torch.as_tensor(self.normalizer(self.obs)).unsqueeze(0)
            action = self.agent.explore(obs)[0].numpy().astype(np.float64)
        self.obs = step_env(self.env, self.obs, action, self.buffer)
        self.normalizer.update(self.obs)
        if self.global_step > hyper.learning_starts:
            batch = self.buffer.sample(hyper.batch_size, self.generator, self.normalizer.torch_normalize)
            self.agent.update(batch, self.global_step)
        self.global_step += 1
        if spec.eval_every and self.global_step % spec.eval_every == 0:
            returns = evaluate(
                self.deployed, self.normalizer, spec.env_id, spec.eval_episodes, EVAL_SEED_OFFSET + spec.seed
            )
            self.curve.add(self.global_step, returns, time.perf_counter() - self.started)
            self.last_eval = float(returns.mean())

    def finish(self) -> TrainedPolicy:
        """Checkpoint, export, final evaluation, and the completion mark, in that order."""
        spec = self.spec
        self.env.close()
        self.curve.close()
        policy = self.agent.policy
        torch.save(
            {"policy": policy.state_dict(), "normalizer": self.normalizer.state_dict()},
            self.out_dir / "checkpoint.pt",
        )
        export_policy(policy, self.obs_dim, self.out_dir / "policy.onnx")
        final_returns: tuple[float, ...] = ()
        if spec.final_eval_episodes:
            returns = evaluate(
                self.deployed, self.normalizer, spec.env_id, spec.final_eval_episodes, 2 * EVAL_SEED_OFFSET + spec.seed
            )
            final_returns = tuple(float(r) for r in returns)
        write_eval(self.out_dir, final_returns, noise_sigma=0.0)
        wall_seconds = time.perf_counter() - self.started
        (self.out_dir / "complete.json").write_text(
            json.dumps({"env_steps": self.global_step, "wall_seconds": round(wall_seconds, 3)}, indent=2)
        )
        return TrainedPolicy(self.out_dir, spec, final_returns, wall_seconds)


def train(
    spec: TrainSpec,
    out_dir: Path | str,
    *,
    overwrite: bool = False,
    on_progress: Callable[[Progress], None] | None = None,
) -> TrainedPolicy:
    """Train ``spec`` into ``out_dir`` and return the finished run.

    Uses the calling process's torch thread setting; the CLI sets one thread per
    training, which is fastest when several trainings share the machine.
    """
    trainer = Trainer(spec, out_dir, overwrite=overwrite)
    while not trainer.done:
        trainer.step()
        step = trainer.global_step
        if on_progress is not None and (step % 200 == 0 or step == spec.total_steps):
            on_progress(Progress(step, spec.total_steps, trainer.last_eval))
    return trainer.finish()


def write_eval(
    run_dir: Path, returns: tuple[float, ...] | np.ndarray, noise_sigma: float, name: str = "eval.json", seed: int | None = None
) -> Path:
    """An evaluation's returns as JSON in the run folder; ``seed`` is the episodes' first seed when the caller fixed one."""
    returns = [float(r) for r in returns]
    path = run_dir / name
    path.write_text(
        json.dumps(
            {
                "episodes": len(returns),
                "noise_sigma": noise_sigma,
                "seed": seed,
                "return_mean": float(np.mean(returns)) if returns else None,
                "return_std": float(np.std(returns)) if returns else None,
                "returns": returns,
            },
            indent=2,
        )
    )
    return path


def read_run(run_dir: Path | str) -> dict:
    """The config of a finished run folder; a clear error for anything else."""
    run_dir = Path(run_dir)
    config_path = run_dir / "config.json"
    if not run_dir.is_dir():
        raise TrainingInputError(f"run folder {run_dir} does not exist")
    try:
        config = json.loads(config_path.read_text())
    except (OSError, json.JSONDecodeError):
        raise TrainingInputError(f"{run_dir} is not a run folder: no readable config.json") from None
    if not isinstance(config, dict) or config.get("kind") != RUN_KIND:
        raise TrainingInputError(f"{run_dir} is not a dse training run folder (config.json is foreign)")
    if not (run_dir / "complete.json").exists():
        raise TrainingInputError(f"run folder {run_dir} is incomplete: its training did not finish")
    return config


def load_policy(run_dir: Path | str) -> tuple[DeployedPolicy, ObsNormalizer]:
    """The deployed policy (normalized obs batch -> action in [-1, 1]) and its frozen normalizer."""
    config = read_run(run_dir)
    spec = TrainSpec.from_dict(config["spec"])
    try:
        checkpoint = torch.load(Path(run_dir) / "checkpoint.pt", weights_only=True)
    except (OSError, RuntimeError) as error:
        raise TrainingInputError(f"checkpoint of {run_dir} cannot be read: {error}") from None
    net = PolicyNet(config["obs_dim"], len(config["action_low"]), spec.policy)
    net.load_state_dict(checkpoint["policy"])
    return DeployedPolicy(net.eval()), ObsNormalizer.from_state_dict(checkpoint["normalizer"])
