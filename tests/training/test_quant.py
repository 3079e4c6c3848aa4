"""The quantizer (the paper; docs/training.md) and its Brevitas twin."""

import numpy as np
import pytest
import torch

from training.brevitas_policy import BrevitasPolicy
from training.config import PolicyConfig
from training.networks import PolicyNet, stack_members
from training.quant import ActQuant, int_range, qdq, qdq_weight, scale_divisor


@pytest.mark.parametrize("bits", range(2, 9))
def test_ranges_follow_the_spec(bits):
    assert int_range(bits, signed=True) == (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    assert int_range(bits, signed=False) == (0, 2**bits - 1)
    assert scale_divisor(bits, signed=True) == 2 ** (bits - 1)
    assert scale_divisor(bits, signed=False) == 2**bits - 1


@pytest.mark.parametrize("bits,signed", [(2, True), (3, False), (6, True), (8, False)])
def test_qdq_is_the_spec_formula(bits, signed):
    rng = np.random.default_rng(bits)
    x = rng.normal(0, 2, 1000)
    s = 1.7
    q_min, q_max = int_range(bits, signed)
    q_s = max(abs(q_min), abs(q_max))
    expected = (s / q_s) * np.clip(np.round(x * q_s / s), q_min, q_max)
    got = qdq(torch.tensor(x), torch.tensor(s, dtype=torch.float64), bits, signed).numpy()
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    with torch.no_grad():
        no_grad = qdq(torch.tensor(x), torch.tensor(s, dtype=torch.float64), bits, signed).numpy()
    np.testing.assert_array_equal(no_grad, got)


def test_gradient_is_straight_through_inside_the_range_and_zero_outside():
    x = torch.tensor([-5.0, -0.3, 0.0, 0.26, 0.9, 5.0], requires_grad=True)
    qdq(x, torch.tensor(1.0), 4, signed=True).sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 1.0, 0.0]


def test_activation_scale_warms_up_on_training_calls_only_then_is_learned():
    quant = ActQuant(4, signed=False, warmup_steps=3, percentile=100.0, momentum=0.5)
    quant.eval()
    quant(torch.tensor([9.0]))
    assert int(quant.counter) == 0, "eval-mode calls must not count toward the warm-up"
    quant.train()
    maxima = [2.0, 4.0, 8.0]
    for value in maxima:
        quant(torch.tensor([0.0, value]))
    assert quant.running_stat.item() == pytest.approx((2.0 * 0.5 + 4.0 * 0.5) * 0.5 + 8.0 * 0.5)
    assert quant.warming_up
    quant(torch.tensor([100.0]))
    assert not quant.warming_up
    assert quant.value.item() == pytest.approx(quant.running_stat.item())
    out = quant(torch.tensor([1.0, 100.0]))
    out.sum().backward()
    assert quant.value.grad is not None and quant.value.grad.item() != 0.0


def _members_and_twins(config, members=2):
    """A stacked net of ``members`` policies (seeds 0, 1, ...) and each policy's Brevitas twin."""
    nets = []
    for seed in range(members):
        torch.manual_seed(seed)
        nets.append(PolicyNet(11, 3, config))
    return stack_members(nets), [BrevitasPolicy(net) for net in nets]


@pytest.mark.parametrize(
    "config",
    [
        PolicyConfig(width=16, core_bits=2, input_bits=6, output_bits=8, scale_warmup_steps=20),
        PolicyConfig(width=32, core_bits=4, input_bits=3, output_bits=5, scale_warmup_steps=20),
    ],
)
def test_lean_path_equals_brevitas_through_warmup_and_training(config):
    """Each member of a stacked net: bit-identical values and float-rounding-equal gradients to its own
    Brevitas twin, call by call, across the scale warm-up (modular path) and after it (fused path), with Adam steps."""
    net, twins = _members_and_twins(config)
    net.train()
    for twin in twins:
        twin.train()
    opt_net = torch.optim.Adam(net.parameters(), lr=1e-2)
    net.watch_optimizer(opt_net)
    generator = torch.Generator().manual_seed(1)
    for step in range(30):
        x = torch.randn(len(twins), 64, 11, generator=generator) * (1 + step / 10)
        out_net = net(x)
        (out_net**2).mean((1, 2)).sum().backward()
        for member, twin in enumerate(twins):
            out_twin = twin(x[member])
            torch.testing.assert_close(out_net[member], out_twin, rtol=0, atol=0)
            (out_twin**2).mean().backward()
            params_twin = dict(twin.named_parameters())
            for name, linear in zip(("fc1", "fc2", "fc3"), net.linears()):
                torch.testing.assert_close(
                    linear.weight.grad[member], params_twin[f"{name}.weight"].grad, rtol=1e-5, atol=1e-7
                )
                torch.testing.assert_close(linear.bias.grad[member], params_twin[f"{name}.bias"].grad, rtol=1e-5, atol=1e-7)
            for twin_layer, quant in twin.quantizer_pairs(net):
                twin_grad = twin.scaling_impl(twin_layer).value.grad
                if quant.value.grad is None:  # warming up: the scale is a statistic, its parameter unused
                    assert twin_grad is None or twin_grad.item() == 0.0
                else:
                    # A scale's gradient is a difference of two sums over the batch, so
                    # summation order shows more here than elsewhere.
                    torch.testing.assert_close(quant.value.grad[member], twin_grad, rtol=1e-3, atol=1e-6)
        opt_net.step()
        opt_net.zero_grad()
        for member, twin in enumerate(twins):
            twin.zero_grad()
            twin.copy_from(net.member(member))
    assert not net.warming_up
    net.eval()
    x = torch.randn(len(twins), 256, 11, generator=generator)
    out_net = net(x)
    for member, twin in enumerate(twins):
        torch.testing.assert_close(out_net[member], twin.eval()(x[member]), rtol=0, atol=0)


def test_member_state_is_the_single_policy_layout_and_round_trips():
    config = PolicyConfig(width=8, core_bits=3, scale_warmup_steps=2)
    net, _ = _members_and_twins(config, members=3)
    net.train()
    for _ in range(4):
        net(torch.randn(3, 16, 11))
    state = net.member_state_dict(1)
    assert state["fc1.weight"].shape == (8, 11) and state["input_quant.value"].shape == ()
    single = PolicyNet.from_member_state_dict(11, 3, config, state).eval()
    x = torch.randn(5, 11)
    net.eval()
    assert torch.equal(single(x), net(x.expand(3, -1, -1))[1])
    assert not torch.equal(single(x), net(x.expand(3, -1, -1))[0])


def test_weight_gradient_passes_through_the_clip_too():
    weight = torch.tensor([[[-1.0, -0.2, 0.3, 1.0]]], requires_grad=True)
    quantized = qdq_weight(weight, 2)
    # 2-bit signed, q_s = 2: +max rounds to 2 and clips to 1, so the edge clips.
    assert quantized.detach().tolist() == [[[-1.0, -0.0, 0.5, 0.5]]]
    (quantized * torch.tensor([[[1.0, 2.0, 3.0, 4.0]]])).sum().backward()
    # Inside the range: unchanged. At the clipped edge: not zero (the abs-max elements
    # also carry the scale's gradient, so only their being non-zero is checked).
    assert weight.grad[0, 0, 1:3].tolist() == [2.0, 3.0]
    assert weight.grad[0, 0, 3].item() != 0.0


def test_loading_a_warming_up_state_restarts_the_warm_up_path():
    config = PolicyConfig(width=8, core_bits=3, scale_warmup_steps=2)
    fresh_state = PolicyNet(4, 1, config).state_dict()
    net = PolicyNet(4, 1, config).train()
    for _ in range(4):
        net(torch.randn(16, 4))
    assert not net.warming_up
    net.load_state_dict(fresh_state)
    assert net.warming_up


def test_cached_quantized_parameters_follow_every_optimizer_step():
    net = PolicyNet(4, 2, PolicyConfig(width=8, core_bits=2, scale_warmup_steps=1)).train()
    optimizer = torch.optim.Adam(net.parameters(), lr=0.05)
    x = torch.randn(32, 4)
    for _ in range(5):
        net(x).pow(2).mean().backward()
        optimizer.step()
        optimizer.zero_grad()
        with torch.no_grad():
            cached = net(x)
        torch.testing.assert_close(cached, BrevitasPolicy(net).eval()(x), rtol=0, atol=0)
