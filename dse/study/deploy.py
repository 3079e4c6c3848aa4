"""The policy as it is deployed, for every evaluation that scores it: a quantized policy's integer-only network.

Training evaluates with its float32 forward, which may round a sum differently
from the integer arithmetic the FPGA does (on about 1% of actions or fewer); the
integer network of ``synthesis.lowering`` is bit-exact with the hardware. The
final evaluation of every training a study, ``dse train`` or ``dse baseline``
runs, ``dse eval`` and ``dse noise`` all act through ``deployed_actor``, and each
evaluation file records the forward it ran. ``training`` does not import
``synthesis``; this module joins them: a training is handed ``integer_actor`` and
calls it once its policy is exported, before the run folder is sealed.
"""

from __future__ import annotations

from pathlib import Path

from synthesis import lower_qonnx
from training import FLOAT_FORWARD, PolicyConfig

INTEGER_FORWARD = "integer (synthesis.lowering: the deployed integer-only network, tanh as a table)"


def integer_actor(run_dir: Path | str):
    """The integer-only network of the run folder's ``policy.onnx``, acting on normalized observations (an ``Actor``)."""
    import torch

    from training import Actor

    network = lower_qonnx(Path(run_dir) / "policy.onnx")
    return Actor(lambda obs: torch.from_numpy(network.actions(obs.numpy())), INTEGER_FORWARD)


def expected_forward(policy: PolicyConfig) -> str:
    """The forward that scores a policy of this configuration: integer when quantized, float32 for FP32."""
    return FLOAT_FORWARD if policy.fp32 else INTEGER_FORWARD


def evaluate_deployed(run_dir: Path | str, episodes: int, seed: tuple[int, ...], noise_sigma: float = 0.0):
    """Returns of a finished run's deployed policy on the episodes of entropy ``seed`` (numpy), and its forward."""
    from training import evaluate, read_run

    actor, normalizer = deployed_actor(run_dir)
    env_id = read_run(run_dir)["spec"]["env_id"]
    return evaluate(actor.act, normalizer, env_id, episodes, seed, noise_sigma), actor.forward


def deployed_actor(run_dir: Path | str):
    """A finished run's deployed policy (an ``Actor``) and its frozen normalizer."""
    from training import Actor, load_policy

    policy, normalizer = load_policy(run_dir)
    if policy.net.config.fp32:
        return Actor(policy, FLOAT_FORWARD), normalizer
    return integer_actor(run_dir), normalizer


def rollout_observations(run_dir: Path | str, count: int, seed: int = 0):
    """``count`` normalized observations (numpy, float) the deployed policy meets in its own episodes.

    Episodes run in pairs of entropy ``(seed, round)`` until enough are seen; what a
    hardware simulation streams, so its inputs are the states the controller really visits.
    """
    import numpy as np

    from training import evaluate, read_run

    actor, normalizer = deployed_actor(run_dir)
    env_id = read_run(run_dir)["spec"]["env_id"]
    seen: list = []

    def recording(obs):
        seen.append(obs.numpy().copy())
        return actor.act(obs)

    round_ = 0
    while sum(len(batch) for batch in seen) < count:
        evaluate(recording, normalizer, env_id, 2, (seed, round_))
        round_ += 1
    return np.concatenate(seen)[:count]
