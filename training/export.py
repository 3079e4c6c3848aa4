"""Export of the deployed policy to ONNX: QONNX through Brevitas, or plain ONNX for FP32.

The graph ends at the output quantizer, before tanh: on the FPGA tanh is a lookup
table after the integer network, and qonnx has no execution model for Tanh.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from training.brevitas_policy import BrevitasPolicy, export_qonnx
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
