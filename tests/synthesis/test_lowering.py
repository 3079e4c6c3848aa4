"""The integer-only network equals the QDQ policy: exactly against its definition, and against training's float32 forward."""

from fractions import Fraction

import numpy as np
import pytest
import torch

from synthesis import SynthesisInputError, lower_qonnx
from synthesis.lowering import IntegerLayer, _Quant, accumulator_reach, thresholds_for
from tests.synthesis.conftest import qdq_reference
from tests.training.test_export import real_observations
from training import load_policy

SETTINGS = [
    # obs, actions, width, core bits, input bits, output bits
    (11, 3, 16, 2, 6, 8),
    (17, 6, 64, 4, 8, 8),
    (5, 2, 32, 8, 8, 2),
    (8, 1, 16, 3, 2, 4),
]


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: "obs{}-act{}-w{}-c{}-i{}-o{}".format(*s))
def test_integer_network_equals_the_exact_qdq_policy_on_random_inputs(setting, policy_onnx):
    path = policy_onnx(*setting)
    policy = lower_qonnx(path)
    rng = np.random.default_rng(1)
    # Wide inputs reach the clipping edges of every quantizer as well as the middle.
    obs = np.concatenate([rng.normal(0, 1, (3000, setting[0])), rng.normal(0, 4, (3000, setting[0]))]).astype(np.float32)
    expected = qdq_reference(path, obs) / policy.output_step
    levels = policy(obs)
    assert levels.dtype == np.int64
    assert np.array_equal(levels, np.round(expected).astype(np.int64))
    assert len(np.unique(levels)) > 2, "a degenerate network would prove nothing"


def test_reference_evaluator_agrees_with_qonnx_execution(policy_onnx):
    """The test's own QDQ evaluator, run in float32, is what qonnx executes."""
    from tests.training.test_export import qonnx_outputs

    path = policy_onnx()
    obs = np.random.default_rng(2).normal(0, 2, (40, 11)).astype(np.float32)
    assert np.array_equal(qdq_reference(path, obs, np.float32), qonnx_outputs(path, obs))


def test_integer_forward_takes_integers_and_keeps_them(policy_onnx):
    policy = lower_qonnx(policy_onnx())
    x_int = policy.quantize_input(np.random.default_rng(0).normal(0, 2, (50, 11)))
    assert x_int.dtype == np.int64 and x_int.min() >= -32 and x_int.max() <= 31
    for layer in policy.layers:
        acc = layer.accumulate(x_int)
        assert acc.dtype == np.int64
        x_int = layer.requantize(acc)
        assert x_int.dtype == np.int64
        assert np.all(np.diff(layer.thresholds, axis=1) >= 0)
    assert x_int.min() >= -128 and x_int.max() <= 127


def test_trained_run_integer_actions_match_the_deployed_policy(qat_run):
    """Real observations of a trained run: exact against the QDQ definition; training's float32
    forward differs from it only where rounding of float32 sums decides a tie-close step."""
    policy, normalizer = load_policy(qat_run.run_dir)
    integer = lower_qonnx(qat_run.run_dir / "policy.onnx")
    obs = real_observations("Pendulum-v1", normalizer, steps=400).astype(np.float32)
    levels = integer(obs)
    exact = np.round(qdq_reference(qat_run.run_dir / "policy.onnx", obs) / integer.output_step).astype(np.int64)
    assert np.array_equal(levels, exact)
    with torch.no_grad():
        deployed = policy(torch.as_tensor(obs)).numpy()
    from_integer = np.tanh(levels * integer.output_step)
    assert np.array_equal(integer.actions(obs), from_integer.astype(np.float32)), "the deployed actions: the tanh table"
    step_of_tanh = integer.output_step  # tanh is 1-Lipschitz: one level moves an action by at most one step
    assert np.all(np.abs(from_integer - deployed) <= step_of_tanh + 1e-6)
    assert np.mean(np.isclose(from_integer, deployed, atol=1e-6)) >= 0.99


def brute_force_levels(acc: np.ndarray, acc_step: Fraction, bias: float, out: _Quant) -> np.ndarray:
    low, high = (-(2 ** (out.bits - 1)), 2 ** (out.bits - 1) - 1) if out.signed else (0, 2**out.bits - 1)
    # Python's round() of a Fraction rounds half to even, exactly.
    exact = [round((acc_step * int(a) + Fraction(bias)) / Fraction(out.step)) for a in acc]
    return np.clip(np.array(exact), low, high)


@pytest.mark.parametrize("signed", [True, False])
def test_thresholds_settle_exact_ties_to_the_even_level(signed):
    """acc_step 1, step 2, bias 0: acc = 2m - 1 is an exact tie between levels m - 1 and m."""
    out = _Quant(step=2.0, bits=3, signed=signed)
    acc = np.arange(-20, 21)
    low, high = np.array([-20]), np.array([20])
    thresholds = thresholds_for(np.zeros(1, np.float32), Fraction(1), out, low, high)[0]
    levels = np.searchsorted(thresholds, acc, side="right") + (-4 if signed else 0)
    assert np.array_equal(levels, brute_force_levels(acc, Fraction(1), 0.0, out))
    assert levels[acc == 1][0] == 0 and levels[acc == 3][0] == 2


def test_thresholds_match_brute_force_for_random_steps_and_biases():
    rng = np.random.default_rng(5)
    for _ in range(20):
        weights = rng.integers(-4, 4, (4, 6))
        low, high = accumulator_reach(weights, 0, 7)
        acc_step = Fraction(float(np.float32(rng.uniform(0.01, 0.2)))) * Fraction(float(np.float32(rng.uniform(0.1, 1))))
        bias = rng.normal(0, 1, 4).astype(np.float32)
        out = _Quant(step=float(np.float32(rng.uniform(0.02, 0.5))), bits=int(rng.integers(2, 5)), signed=bool(rng.integers(2)))
        thresholds = thresholds_for(bias, acc_step, out, low, high)
        offset = -(2 ** (out.bits - 1)) if out.signed else 0
        for channel in range(4):
            acc = np.arange(low[channel], high[channel] + 1)
            got = np.searchsorted(thresholds[channel], acc, side="right") + offset
            want = brute_force_levels(acc, acc_step, float(bias[channel]), out)
            assert np.array_equal(got, want)


def test_fp32_and_foreign_files_are_refused_in_one_line(fp32_run, tmp_path):
    with pytest.raises(SynthesisInputError, match="FP32 policy has no integer form"):
        lower_qonnx(fp32_run.run_dir / "policy.onnx")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a model")
    with pytest.raises(SynthesisInputError, match="cannot be read as ONNX"):
        lower_qonnx(garbage)


def test_accumulate_and_requantize_are_exact_counts_on_every_path():
    """The float64 BLAS product is used only where it is exact; the one-search requantization counts per channel."""
    rng = np.random.default_rng(3)
    weights = rng.integers(-128, 128, size=(9, 40))
    thresholds = np.sort(rng.integers(-5000, 5000, size=(9, 15)), axis=1)
    layer = IntegerLayer(weights, 8, thresholds, 4, False)
    x = rng.integers(-128, 128, size=(50, 40))
    assert np.array_equal(layer.accumulate(x), x @ weights.T)
    acc = rng.integers(-7000, 7000, size=(200, 9))  # below, among and above every channel's thresholds
    assert np.array_equal(layer.requantize(acc), (acc[:, :, None] >= thresholds[None]).sum(axis=2))
    huge = IntegerLayer(np.full((2, 3), 2**40), 8, thresholds[:2], 4, False)  # partial sums past 2^53: integer path
    big_x = np.array([[2**12 + 1, 2**12 + 3, 7]])
    assert np.array_equal(huge.accumulate(big_x), big_x @ huge.weights.T)
