"""QAT training of SAC and DDPG policies, evaluation, checkpoints and QONNX export.

Knows nothing of Optuna, Ray or FPGAs: it takes a ``TrainSpec`` and leaves a run folder.
Its records, errors and run-folder readers load without torch; the trainer, the
evaluation and the policy loader import torch when first used, so reading a study
does not pay for it.
"""

from importlib import import_module

from training.config import ALGO_CONFIGS, RESULTS_VERSION, SCOPES, DDPGConfig, PolicyConfig, SACConfig, TrainSpec, field_docs
from training.errors import TrainingDiverged, TrainingInputError
from training.run_folder import FINAL_EVAL, FLOAT_FORWARD, evaluation_file, read_eval, read_run, verify_run, write_eval

_WITH_TORCH = {
    "Actor": "training.evaluation",
    "evaluate": "training.evaluation",
    "Progress": "training.run",
    "TrainedPolicy": "training.run",
    "load_policy": "training.policy_files",
    "train": "training.run",
    "train_seeds": "training.run",
    "train_to": "training.run",
    "RungResult": "training.run",
}


def __getattr__(name: str):
    if name in _WITH_TORCH:
        return getattr(import_module(_WITH_TORCH[name]), name)
    raise AttributeError(f"module 'training' has no attribute {name!r}")


__all__ = [
    "ALGO_CONFIGS",
    "FINAL_EVAL",
    "FLOAT_FORWARD",
    "RESULTS_VERSION",
    "SCOPES",
    "DDPGConfig",
    "PolicyConfig",
    "SACConfig",
    "TrainSpec",
    "TrainingDiverged",
    "TrainingInputError",
    "evaluation_file",
    "field_docs",
    "read_eval",
    "read_run",
    "verify_run",
    "write_eval",
    *_WITH_TORCH,
]
