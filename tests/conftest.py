import os
import warnings

import pytest
import torch

from training import PolicyConfig, SACConfig, TrainSpec, train

warnings.filterwarnings("ignore", message="fast_hadamard_transform")
# studies under test keep their own storages, whatever storage the shell running the suite names (dse.storage.credentials)
for name in ("DSE_STORAGE", "PGPASSWORD"):
    os.environ.pop(name, None)


def tiny_spec(policy: PolicyConfig, seed: int = 0, env_id: str = "Pendulum-v1", **overrides) -> TrainSpec:
    """A training that takes seconds: a few hundred updates of small critics."""
    settings = dict(
        env_id=env_id,
        policy=policy,
        hyper=SACConfig(learning_starts=200, critic_width=32, batch_size=64),
        total_steps=700,
        seed=seed,
        eval_every=350,
        eval_episodes=2,
        final_eval_episodes=2,
    )
    settings.update(overrides)
    return TrainSpec(**settings)


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def qat_run(tmp_path_factory):
    """A finished 2-bit-core, 6-bit-input QAT run folder (past the activation-scale warm-up)."""
    torch.set_num_threads(1)
    spec = tiny_spec(PolicyConfig(width=16, core_bits=2, input_bits=6, output_bits=8))
    return train(spec, tmp_path_factory.mktemp("runs") / "qat")


@pytest.fixture(scope="session")
def fp32_run(tmp_path_factory):
    torch.set_num_threads(1)
    spec = tiny_spec(PolicyConfig(width=16, fp32=True), total_steps=400)
    return train(spec, tmp_path_factory.mktemp("runs") / "fp32")
