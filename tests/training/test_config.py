import dataclasses

import pytest

from training import ALGO_CONFIGS, DDPGConfig, PolicyConfig, SACConfig, TrainingInputError, TrainSpec, field_docs


@pytest.mark.parametrize("config_cls", [SACConfig, DDPGConfig, PolicyConfig, TrainSpec])
def test_every_field_has_a_docstring(config_cls):
    docs = field_docs(config_cls)
    assert set(docs) == {f.name for f in dataclasses.fields(config_cls)}
    assert all(docs.values())


def test_defaults_are_cleanrls():
    sac, ddpg = SACConfig(), DDPGConfig()
    assert (sac.buffer_size, sac.gamma, sac.tau, sac.batch_size, sac.learning_starts) == (10**6, 0.99, 0.005, 256, 5000)
    assert (sac.policy_lr, sac.q_lr, sac.policy_frequency, sac.target_network_frequency, sac.autotune) == (
        3e-4, 1e-3, 2, 1, True,
    )
    assert (ddpg.learning_starts, ddpg.learning_rate, ddpg.exploration_noise, ddpg.policy_frequency) == (
        25_000, 3e-4, 0.1, 2,
    )
    assert set(ALGO_CONFIGS) == {"sac", "ddpg"}


@pytest.mark.parametrize(
    "scope,expected",
    [("all", (3, 3, 3)), ("input", (8, 3, 8)), ("output", (8, 8, 3)), ("core", (3, 8, 8))],
)
def test_scope_shorthand_sets_one_part_and_leaves_the_rest_at_8(scope, expected):
    policy = PolicyConfig.for_scope(scope, 3, width=64)
    assert (policy.core_bits, policy.input_bits, policy.output_bits) == expected
    assert policy.width == 64


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda: PolicyConfig(core_bits=1), "core-bits 1 is outside the allowed 2..8"),
        (lambda: PolicyConfig(input_bits=9), "input-bits 9 is outside the allowed 2..8"),
        (lambda: PolicyConfig(width=0), "width 0 is invalid"),
        (lambda: PolicyConfig.for_scope("hidden", 4), "scope 'hidden' is unknown"),
        (lambda: PolicyConfig(scale_percentile=0.0), r"scale-percentile 0.0 is outside the allowed \(0, 100\]"),
        (lambda: PolicyConfig(scale_momentum=1.5), r"scale-momentum 1.5 is outside the allowed \(0, 1\]"),
        (lambda: TrainSpec("Pendulum-v1", total_steps=100), "steps 100 must exceed learning-starts 5000"),
        (lambda: TrainSpec("Pendulum-v1", algo="ppo"), "algo 'ppo' is unknown"),
    ],
)
def test_bad_values_are_refused_with_a_message_naming_them(make, message):
    with pytest.raises(TrainingInputError, match=message):
        make()


def test_fp32_ignores_bits_and_spec_round_trips_with_a_stable_key():
    assert PolicyConfig(fp32=True, core_bits=1).fp32
    spec = TrainSpec("Hopper-v4", policy=PolicyConfig(width=64, core_bits=2, input_bits=6), seed=3)
    again = TrainSpec.from_dict(spec.to_dict())
    assert again == spec and again.key() == spec.key()
    assert TrainSpec("Hopper-v4", seed=4).key() != TrainSpec("Hopper-v4", seed=3).key()


def test_the_key_changes_with_the_results_version(monkeypatch):
    """A change that alters what training makes bumps RESULTS_VERSION: runs cached before it are not found again."""
    import training.config

    spec = TrainSpec("Hopper-v4", policy=PolicyConfig(width=64, core_bits=2, input_bits=6))
    before = spec.key()
    monkeypatch.setattr(training.config, "RESULTS_VERSION", training.config.RESULTS_VERSION + 1)
    assert spec.key() != before
