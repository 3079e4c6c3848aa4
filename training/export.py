"""Export of the deployed policy to ONNX: QONNX through Brevitas, or plain ONNX for FP32.

The graph ends at the output quantizer, before tanh: on the FPGA tanh is a lookup
table after the integer network, and qonnx has no execution model for Tanh.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from training.brevitas_policy import BrevitasPolicy, export_qonnx
from training.config import PolicyConfig
from training.networks import PolicyNet

INPUT_NAME = "obs"


def plain_mlp(net: PolicyNet) -> nn.Sequential:
    """A one-member FP32 net as ``nn.Linear`` and ``nn.ReLU`` layers (Gemm nodes in ONNX)."""
    layers: list[nn.Module] = []
    for stacked in net.linears():
        linear = nn.Linear(stacked.in_features, stacked.out_features)
        with torch.no_grad():
            linear.weight.copy_(stacked.weight[0])
            linear.bias.copy_(stacked.bias[0])
        layers += [linear, nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def export_policy(net: PolicyNet, obs_dim: int, path: Path) -> None:
    """Write the one-member ``net`` (pre-tanh output) as one self-contained ONNX file."""
    example = torch.zeros(1, obs_dim)
    if net.config.fp32:
        torch.onnx.export(
            plain_mlp(net).eval(), (example,), str(path), input_names=[INPUT_NAME], output_names=["pre_tanh"], dynamo=False
        )
        return
    twin = BrevitasPolicy(net).eval()
    # dynamo=False keeps weights inside the file instead of a side ``.onnx.data``.
    export_qonnx(twin, input_t=example, export_path=str(path), dynamo=False, input_names=[INPUT_NAME])


def untrained_policy_onnx(
    path: Path, obs_dim: int, act_dim: int, width: int, core_bits: int, input_bits: int, output_bits: int, seed: int = 0
) -> Path:
    """A QONNX policy of this shape with random weights and biases and warmed-up activation scales, no training.

    What hardware work needs of a policy is its shape and bit widths: tests and the
    hardware calibration grid build designs from these in a second, not an hour.
    """
    config = PolicyConfig(width=width, core_bits=core_bits, input_bits=input_bits, output_bits=output_bits, scale_warmup_steps=3)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = PolicyNet(obs_dim, act_dim, config)
        with torch.no_grad():
            for layer in net.linears():
                layer.bias.normal_(0, 0.3)
        net.train()
        for _ in range(config.scale_warmup_steps + 2):
            net(torch.randn(256, obs_dim) * 1.5)
    export_policy(net.eval(), obs_dim, path)
    return path
