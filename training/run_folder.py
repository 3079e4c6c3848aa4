"""A training run's folder written, read back, checked, and given evaluations: no torch here, so readers of studies
stay light.

A finished run folder holds:
    config.json      the TrainSpec, its cache key, env spaces, library versions
    checkpoint.pt    policy state (weights, activation scales), normalizer
    policy.onnx      QONNX (FP32: plain ONNX) of the policy up to the output quantizer
    curve.csv        the learning curve (env_step, return_mean, return_std, wall_seconds)
    eval.json        the training's own final evaluation, with the forward that ran it
    complete.json    written last: a folder without it is not a finished run; env steps, wall time,
                     seeds trained together, ``stopped_early`` when a stop rule ended it, and the
                     SHA-256 of every other file (``verify_run`` finds a corrupted or truncated copy)

Evaluations made later (``dse eval``, ``dse noise``) go to files of their own
(``evaluation_file``): they never replace ``eval.json`` and, not being in
``complete.json``'s hashes, never make a finished run look damaged.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

import numpy as np

from training.config import TrainSpec
from training.errors import TrainingInputError
from training.files import write_whole

RUN_KIND = "dse-train-run"
FINAL_EVAL = "eval.json"
COMPLETE = "complete.json"
FLOAT_FORWARD = "float32 (training's forward)"
"""the ``forward`` of evaluations run by training's own float32 forward (FP32 policies; QAT ones when no deploy is given)"""


def prepare_run_dir(out_dir: Path, overwrite: bool) -> None:
    """An empty folder at ``out_dir`` for a run; ``overwrite`` empties a run folder there, never another folder."""
    if out_dir.exists() and any(out_dir.iterdir()):
        if not overwrite:
            raise TrainingInputError(f"training folder {out_dir} already exists and is not empty (pass --overwrite)")
        if not (out_dir / "config.json").exists():
            raise TrainingInputError(f"refusing to overwrite {out_dir}: it is not a training folder")
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)


def _versions() -> dict[str, str]:
    names = ("torch", "brevitas", "gymnasium", "mujoco", "qonnx", "numpy")
    return {name: metadata.version(name) for name in names}


def write_config(spec: TrainSpec, out_dir: Path, obs_dim: int, low: np.ndarray, high: np.ndarray) -> None:
    """``config.json``, written first: the spec and its key, the env's spaces, the export's output and the library
    versions, so a run folder says what made it even before it is finished."""
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


def write_complete(
    run_dir: Path,
    *,
    env_steps: int,
    wall_seconds: float,
    seeds_trained_together: int,
    resumed_at: Sequence[int],
    stopped_early: dict | None,
) -> None:
    """``complete.json``, the mark of a finished run: written last, with the hashes of every other file (``verify_run``).

    ``resumed_at`` and ``stopped_early`` are recorded only when the training was resumed or stopped early.
    """
    write_whole(
        run_dir / COMPLETE,
        json.dumps(
            {
                "env_steps": env_steps,
                "wall_seconds": round(wall_seconds, 3),
                "seeds_trained_together": seeds_trained_together,
                **({"resumed_at": resumed_at} if resumed_at else {}),
                **({"stopped_early": stopped_early} if stopped_early else {}),
                "sha256": file_hashes(run_dir),
            },
            indent=2,
        )
    )


def evaluation_file(episodes: int, seed: int, noise_sigma: float) -> str:
    """The file an evaluation added after training is kept in, named by what makes it: episodes, seed, noise."""
    noise = f"-noise{noise_sigma:g}" if noise_sigma else ""
    return f"eval-{episodes}ep-seed{seed}{noise}.json"


def write_eval(
    run_dir: Path,
    name: str,
    returns: Sequence[float] | np.ndarray,
    *,
    noise_sigma: float,
    seed: Sequence[int],
    forward: str,
) -> Path:
    """An evaluation's returns as JSON in the run folder.

    ``seed``: the entropy the episodes were drawn from (``training.evaluation.episode_streams``);
    ``forward``: what computed the actions (the integer network, or a float forward).
    """
    returns = [float(r) for r in returns]
    path = Path(run_dir) / name
    path.write_text(
        json.dumps(
            {
                "episodes": len(returns),
                "noise_sigma": noise_sigma,
                "seed": [int(part) for part in seed],
                "forward": forward,
                "return_mean": float(np.mean(returns)) if returns else None,
                "return_std": float(np.std(returns)) if returns else None,
                "returns": returns,
            },
            indent=2,
        )
    )
    return path


def read_eval(run_dir: Path | str, name: str = FINAL_EVAL) -> dict:
    return json.loads((Path(run_dir) / name).read_text())


def file_hashes(run_dir: Path) -> dict[str, str]:
    """SHA-256 of each file in the run folder but the completion mark, by name."""
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(Path(run_dir).iterdir())
        if path.is_file() and path.name != COMPLETE
    }


def verify_run(run_dir: Path | str) -> str | None:
    """What is wrong with a finished run folder's files (missing, or not the bytes its training wrote), or None.

    Runs finished before the completion mark held hashes cannot be checked and pass.
    """
    run_dir = Path(run_dir)
    try:
        expected = json.loads((run_dir / COMPLETE).read_text()).get("sha256", {})
    except (OSError, json.JSONDecodeError, AttributeError):
        return f"{COMPLETE} is missing or unreadable"
    for name, digest in expected.items():
        path = run_dir / name
        if not path.is_file():
            return f"{name} is missing"
        if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            return f"{name} does not match its hash (corrupted or truncated)"
    return None


def read_run(run_dir: Path | str) -> dict:
    """The config of a finished run folder; a clear error for anything else."""
    run_dir = Path(run_dir)
    config_path = run_dir / "config.json"
    if not run_dir.is_dir():
        raise TrainingInputError(f"training folder {run_dir} does not exist")
    try:
        config = json.loads(config_path.read_text())
    except (OSError, json.JSONDecodeError):
        raise TrainingInputError(f"{run_dir} is not a training folder: no readable config.json") from None
    if not isinstance(config, dict) or config.get("kind") != RUN_KIND:
        raise TrainingInputError(f"{run_dir} is not a dse training folder (config.json is foreign)")
    if not (run_dir / COMPLETE).exists():
        raise TrainingInputError(f"training folder {run_dir} is incomplete: its training did not finish")
    return config
