"""The Brevitas twin of ``PolicyNet``: the definition of the quantizers and the export path.

Each quantizer is a Brevitas injector spelled out from the paper's quantizer (docs/training.md), so the
twin computes Q_b exactly as the paper writes it:
- weights: signed, full range [-2^(b-1), 2^(b-1) - 1] (not Brevitas' default
  narrow range), per-tensor scale = abs max, recomputed, never learned;
- activations: per-tensor float scale initialised from a 300-call moving
  average of the 99.999th percentile of |x|, then learned (Brevitas' defaults
  for ``Int8ActPerTensorFloat`` / ``Uint8ActPerTensorFloat``).
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

with warnings.catch_warnings():
    # Brevitas announces at import that an optional kernel package (unused here) is missing.
    warnings.filterwarnings("ignore", message="fast_hadamard_transform")
    warnings.filterwarnings("ignore", message="brevitas.fx is deprecated")
    from brevitas.export import export_qonnx
    from brevitas.nn import QuantIdentity, QuantLinear, QuantReLU
    from brevitas.quant.base import IntQuant, MaxStatsScaling, PerTensorFloatScaling8bit
    from brevitas.quant.scaled_int import Int8ActPerTensorFloat, Uint8ActPerTensorFloat
    from brevitas.quant.solver import WeightQuantSolver

from training.networks import PolicyNet
from training.quant import ActQuant

__all__ = ["BrevitasPolicy", "SignedWeightAbsMax", "export_qonnx"]


class SignedWeightAbsMax(IntQuant, MaxStatsScaling, PerTensorFloatScaling8bit, WeightQuantSolver):
    """Signed full-range weight quantizer, scale = max |W| per tensor."""


def _act_quant_kwargs(quant: ActQuant) -> dict:
    return dict(
        bit_width=quant.bits,
        collect_stats_steps=quant.warmup_steps,
        high_percentile_q=quant.percentile,
        scaling_stats_momentum=quant.momentum,
        return_quant_tensor=False,
    )


class BrevitasPolicy(nn.Module):
    """Brevitas layers with the same structure, parameters and quantizer state as a quantized one-member ``PolicyNet``."""

    def __init__(self, net: PolicyNet):
        super().__init__()
        if net.config.fp32:
            raise ValueError("an FP32 policy has no Brevitas twin: it is exported as plain ONNX")
        if net.members != 1:
            raise ValueError(f"a Brevitas twin is of one policy, not {net.members}: take PolicyNet.member(i)")
        bits = net.config.core_bits
        self.input_quant = QuantIdentity(act_quant=Int8ActPerTensorFloat, **_act_quant_kwargs(net.input_quant))
        layers = []
        for linear in net.linears():
            layers.append(
                QuantLinear(
                    linear.in_features,
                    linear.out_features,
                    bias=True,
                    weight_quant=SignedWeightAbsMax,
                    weight_bit_width=bits,
                )
            )
        self.fc1, self.fc2, self.fc3 = layers
        self.relu1 = QuantReLU(act_quant=Uint8ActPerTensorFloat, **_act_quant_kwargs(net.hidden1_quant))
        self.relu2 = QuantReLU(act_quant=Uint8ActPerTensorFloat, **_act_quant_kwargs(net.hidden2_quant))
        self.output_quant = QuantIdentity(act_quant=Int8ActPerTensorFloat, **_act_quant_kwargs(net.output_quant))
        self.copy_from(net)
        self.train(net.training)

    def quantizer_pairs(self, net: PolicyNet) -> list[tuple[nn.Module, ActQuant]]:
        return [
            (self.input_quant, net.input_quant),
            (self.relu1, net.hidden1_quant),
            (self.relu2, net.hidden2_quant),
            (self.output_quant, net.output_quant),
        ]

    @staticmethod
    def scaling_impl(layer: nn.Module) -> nn.Module:
        return layer.act_quant.fused_activation_quant_proxy.tensor_quant.scaling_impl

    @torch.no_grad()
    def copy_from(self, net: PolicyNet) -> None:
        """Take ``net``'s weights, biases and activation-scale state (warm-up counter, average, learned value)."""
        for twin, linear in zip((self.fc1, self.fc2, self.fc3), net.linears()):
            twin.weight.copy_(linear.weight[0])
            twin.bias.copy_(linear.bias[0])
        for layer, quant in self.quantizer_pairs(net):
            impl = self.scaling_impl(layer)
            impl.counter = int(quant.counter[0])
            impl.buffer.copy_(quant.running_stat[0])
            impl.value.copy_(quant.value[0])

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = self.input_quant(obs)
        x = self.relu1(self.fc1(x))
        x = self.relu2(self.fc2(x))
        return self.output_quant(self.fc3(x))
