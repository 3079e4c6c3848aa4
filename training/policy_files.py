"""A seed's policy in its run folder: ``checkpoint.pt`` (its weights and normalizer) and ``policy.onnx`` (its export).

A finished training writes both (``write_policy``); ``load_policy`` reads the
checkpoint back as the deployed policy, for evaluations made after training.
"""

from __future__ import annotations

from pathlib import Path

import torch

from training.config import TrainSpec
from training.errors import TrainingInputError
from training.export import export_policy
from training.networks import DeployedPolicy, PolicyNet
from training.normalizer import ObsNormalizer
from training.run_folder import read_run


def write_policy(run_dir: Path, trained: DeployedPolicy, policy_state: dict, normalizer: ObsNormalizer, obs_dim: int) -> None:
    """``checkpoint.pt`` (``policy_state``: ``PolicyNet.member_state_dict``, and the normalizer), then ``policy.onnx``."""
    torch.save({"policy": policy_state, "normalizer": normalizer.state_dict()}, run_dir / "checkpoint.pt")
    export_policy(trained.net, obs_dim, run_dir / "policy.onnx")


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
