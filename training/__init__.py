"""QAT training of SAC and DDPG policies, evaluation, checkpoints and QONNX export.

Knows nothing of Optuna, Ray or FPGAs: it takes a ``TrainSpec`` and leaves a run folder.
"""

from training.config import ALGO_CONFIGS, SCOPES, DDPGConfig, PolicyConfig, SACConfig, TrainSpec, field_docs
from training.errors import TrainingDiverged, TrainingInputError
from training.evaluate import evaluate
from training.run import Progress, TrainedPolicy, load_policy, read_run, train, train_seeds, verify_run, write_eval

__all__ = [
    "ALGO_CONFIGS",
    "SCOPES",
    "DDPGConfig",
    "PolicyConfig",
    "Progress",
    "SACConfig",
    "TrainSpec",
    "TrainedPolicy",
    "TrainingDiverged",
    "TrainingInputError",
    "evaluate",
    "field_docs",
    "load_policy",
    "read_run",
    "train",
    "train_seeds",
    "verify_run",
    "write_eval",
]
