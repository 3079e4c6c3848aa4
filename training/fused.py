"""The quantized policy's forward and backward as one autograd node, for training after the warm-up.

Through the modular path (``PolicyNet`` with ``ActQuant`` and ``qdq``) a policy
gradient step costs seven quantizer nodes and three linear nodes, whose per-call
overhead made QAT training 15-20% slower than FP32 training at every width.
``quantized_mlp`` strings the same ``Quantizer`` operations through the whole
network (so the values are bit-identical) and writes the backward out by hand:
``Quantizer.backward`` for each quantizer plus the three linear layers.
``tests/training/test_quant.py`` checks it against Brevitas. As everywhere in
training, tensors carry the members (seeds) on their leading dimension, and each
member has its own weight scales and activation steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from training.quant import MIN_SCALE, Quantizer


@dataclass(frozen=True)
class QuantizedWeight:
    """The members' weight matrices (members, out, in) after QDQ, with what their gradients need."""

    dequantized: torch.Tensor
    """QDQ(W): exactly ``training.quant.qdq_weight``'s value"""
    scaled: torch.Tensor
    """W / step"""
    step: torch.Tensor
    """each member's scale over q_s, (members, 1, 1)"""
    members: torch.Tensor
    """0 .. members - 1, to index one entry per member"""
    flat_index: torch.Tensor
    """per member, where |W| is largest: the one entry its scale (abs max) depends on"""
    scale_grad_sign: torch.Tensor
    """per member, sign of that entry, or 0 when the scale sits at its lower bound and passes no gradient"""


@torch.no_grad()
def quantize_weight(weight: torch.Tensor, quantizer: Quantizer) -> QuantizedWeight:
    members = weight.shape[0]
    magnitude = weight.abs().reshape(members, -1)
    # numpy's argmax is vectorised and ten times faster than torch's here; both take the first maximum.
    flat_index = torch.from_numpy(np.argmax(magnitude.numpy(), axis=1))
    rows = torch.arange(members)
    absmax = magnitude[rows, flat_index]
    sign = torch.sign(weight.reshape(members, -1)[rows, flat_index]) * (absmax >= MIN_SCALE)
    step = quantizer.step(torch.clamp(absmax, min=MIN_SCALE), weight.dim())
    dequantized, scaled = quantizer.forward(weight, step)
    return QuantizedWeight(dequantized, scaled, step, rows, flat_index, sign)


@dataclass(frozen=True)
class QuantizedPolicy:
    """Everything the forward derives from the parameters alone: quantized weights, activation steps.

    Between two optimizer steps the policy runs several times (targets, rollouts,
    the actor loss) on the same parameters; this is computed once for all of them
    and is current while none of ``sources`` has been written (tensor versions).
    """

    sources: tuple[torch.Tensor, ...]
    """the three weight matrices and the four activation-scale parameters"""
    versions: tuple[int, ...]
    weights: tuple[QuantizedWeight, ...]
    quantizers: tuple[Quantizer, ...]
    """input, hidden 1, hidden 2, output"""
    weight_quantizer: Quantizer
    steps: tuple[torch.Tensor, ...]
    """per activation quantizer, each member's step, (members, 1, 1)"""
    scales_pass: tuple[torch.Tensor, ...]
    """per activation quantizer, 1.0 for each member whose scale is above its lower bound (and so passes gradient)"""

    def is_current(self, sources: tuple[torch.Tensor, ...]) -> bool:
        return all(a is b for a, b in zip(self.sources, sources)) and self.versions == tuple(
            t._version for t in sources
        )


@torch.no_grad()
def quantize_policy(weights, scales, bits: tuple[int, int, int]) -> QuantizedPolicy:
    """``weights``: the three weight matrices; ``scales``: the four activation-scale
    parameters; ``bits``: (input, core, output)."""
    input_bits, core_bits, output_bits = bits
    hidden = Quantizer.of(core_bits, signed=False, relu=True)
    quantizers = (Quantizer.of(input_bits, signed=True), hidden, hidden, Quantizer.of(output_bits, signed=True))
    weight_quantizer = Quantizer.of(core_bits, signed=True)
    # activations are (members, batch, features)
    steps = tuple(q.step(torch.clamp(scale, min=MIN_SCALE), 3) for q, scale in zip(quantizers, scales))
    sources = (*weights, *scales)
    return QuantizedPolicy(
        sources,
        tuple(t._version for t in sources),
        tuple(quantize_weight(w, weight_quantizer) for w in weights),
        quantizers,
        weight_quantizer,
        steps,
        tuple((scale >= MIN_SCALE).float() for scale in scales),
    )


@torch.no_grad()
def quantized_mlp_inference(obs: torch.Tensor, biases, plan: QuantizedPolicy) -> torch.Tensor:
    """The forward without gradients: nothing saved, operations in place."""
    x = plan.quantizers[0].qdq_(obs, plan.steps[0])
    for layer in range(3):
        pre = torch.baddbmm(biases[layer].unsqueeze(1), x, plan.weights[layer].dequantized.transpose(1, 2))
        x = plan.quantizers[layer + 1].qdq_owned_(pre, plan.steps[layer + 1])
    return x


class _QuantizedMLP(torch.autograd.Function):
    @staticmethod
    def forward(ctx, obs, w1, b1, w2, b2, w3, b3, s_in, s_hidden1, s_hidden2, s_out, plan: QuantizedPolicy):
        x, y = plan.quantizers[0].forward(obs, plan.steps[0])
        outputs, scaled = [x], [y]
        for layer, bias in enumerate((b1, b2, b3)):
            pre = torch.baddbmm(bias.unsqueeze(1), x, plan.weights[layer].dequantized.transpose(1, 2))
            x, y = plan.quantizers[layer + 1].forward(pre, plan.steps[layer + 1])
            outputs.append(x)
            scaled.append(y)
        ctx.plan = plan
        ctx.save_for_backward(*outputs, *scaled)
        return x

    @staticmethod
    def backward(ctx, grad):
        plan = ctx.plan
        quantizers, weights, steps = plan.quantizers, plan.weights, plan.steps
        saved = ctx.saved_tensors
        outputs, scaled = saved[0:4], saved[4:8]
        weight_quantizer = plan.weight_quantizer

        grad_steps = [None] * 4
        grad_weights, grad_biases = [None] * 3, [None] * 3
        grad_pre, grad_steps[3] = quantizers[3].backward(grad, scaled[3], outputs[3], steps[3])
        for layer in (2, 1, 0):
            weight = weights[layer]
            grad_wq = torch.bmm(grad_pre.transpose(1, 2), outputs[layer])
            grad_biases[layer] = grad_pre.sum(1)
            grad_input = torch.bmm(grad_pre, weight.dequantized)
            # The weight's STE passes grad_wq on unchanged; its scale (abs max) adds to one entry per member.
            grad_w, grad_step_w = weight_quantizer.backward(
                grad_wq, weight.scaled, weight.dequantized, weight.step, clip_ste=True
            )
            # grad_w is grad_wq, made here, so it can take the addition in place.
            grad_w.view(len(weight.members), -1).index_put_(
                (weight.members, weight.flat_index),
                grad_step_w.view(-1) * weight.scale_grad_sign / weight_quantizer.divisor,
                accumulate=True,
            )
            grad_weights[layer] = grad_w
            grad_pre, grad_steps[layer] = quantizers[layer].backward(grad_input, scaled[layer], outputs[layer], steps[layer])

        grad_scales = [
            g.view(-1).div_(q.divisor).mul_(passes) for g, q, passes in zip(grad_steps, quantizers, plan.scales_pass)
        ]
        return (
            grad_pre if ctx.needs_input_grad[0] else None,
            grad_weights[0], grad_biases[0], grad_weights[1], grad_biases[1], grad_weights[2], grad_biases[2],
            *grad_scales,
            None,
        )


def quantized_mlp(obs: torch.Tensor, linears, scales, plan: QuantizedPolicy) -> torch.Tensor:
    """The post-warm-up QDQ policy forward with a hand-written backward.

    ``linears`` and ``scales`` (input, hidden 1, hidden 2, output) are the
    parameters that receive gradients; ``plan`` is their current ``quantize_policy``.
    """
    fc1, fc2, fc3 = linears
    return _QuantizedMLP.apply(obs, fc1.weight, fc1.bias, fc2.weight, fc2.bias, fc3.weight, fc3.bias, *scales, plan)
