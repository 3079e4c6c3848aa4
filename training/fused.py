"""The quantized policy's forward and backward as one autograd node, for training after the warm-up.

Through the modular path (``PolicyNet`` with ``ActQuant`` and ``qdq``) a policy
gradient step costs seven quantizer nodes and three linear nodes, whose per-call
overhead made QAT training 15-20% slower than FP32 training at every width.
``quantized_mlp`` strings the same ``Quantizer`` operations through the whole
network (so the values are bit-identical) and writes the backward out by hand:
``Quantizer.backward`` for each quantizer plus the three linear layers.
``tests/training/test_quant.py`` checks it against Brevitas.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from training.quant import MIN_SCALE, Quantizer


@dataclass(frozen=True)
class QuantizedWeight:
    """A weight matrix's QDQ with what its gradient needs; valid while the weight's version is unchanged."""

    source: torch.Tensor
    """the weight it was made from"""
    version: int
    dequantized: torch.Tensor
    """QDQ(W): exactly ``training.quant.qdq_weight``'s value"""
    scaled: torch.Tensor
    """W / step"""
    step: torch.Tensor
    """the scale over q_s"""
    flat_index: int
    """where |W| is largest: the one entry its scale (abs max) depends on"""
    scale_grad_sign: float
    """sign of that entry, or 0 when the scale sits at its lower bound and passes no gradient"""


@torch.no_grad()
def quantize_weight(weight: torch.Tensor, bits: int) -> QuantizedWeight:
    magnitude = weight.abs().reshape(-1)
    # numpy's argmax is vectorised and ten times faster than torch's here; both take the first maximum.
    flat_index = int(np.argmax(magnitude.numpy()))
    absmax = magnitude[flat_index]
    sign = float(torch.sign(weight.reshape(-1)[flat_index])) if float(absmax) >= MIN_SCALE else 0.0
    quantizer = Quantizer.of(bits, signed=True)
    step = quantizer.step(torch.clamp(absmax, min=MIN_SCALE))
    dequantized, scaled = quantizer.forward(weight, step)
    return QuantizedWeight(weight, weight._version, dequantized, scaled, step, flat_index, sign)


def _quantizers(bits: tuple[int, int, int]) -> tuple[Quantizer, Quantizer, Quantizer, Quantizer]:
    """(input, hidden 1, hidden 2, output) for (input, core, output) bits."""
    input_bits, core_bits, output_bits = bits
    hidden = Quantizer.of(core_bits, signed=False, relu=True)
    return Quantizer.of(input_bits, signed=True), hidden, hidden, Quantizer.of(output_bits, signed=True)


def _steps(quantizers, scales) -> list[torch.Tensor]:
    return [q.step(torch.clamp(scale, min=MIN_SCALE)) for q, scale in zip(quantizers, scales)]


@torch.no_grad()
def quantized_mlp_inference(obs, linears, weights: list[QuantizedWeight], scales, bits: tuple[int, int, int]):
    """The same forward without gradients: nothing saved, operations in place, no module calls."""
    quantizers = _quantizers(bits)
    steps = _steps(quantizers, scales)
    x = quantizers[0].qdq_(obs, steps[0])
    for layer in range(3):
        pre = torch.addmm(linears[layer].bias, x, weights[layer].dequantized.t())
        x = quantizers[layer + 1].qdq_owned_(pre, steps[layer + 1])
    return x


class _QuantizedMLP(torch.autograd.Function):
    @staticmethod
    def forward(ctx, obs, w1, b1, w2, b2, w3, b3, s_in, s_hidden1, s_hidden2, s_out, bits, weights):
        quantizers = _quantizers(bits)
        raw_scales = (s_in, s_hidden1, s_hidden2, s_out)
        steps = _steps(quantizers, raw_scales)
        x, y = quantizers[0].forward(obs, steps[0])
        outputs, scaled = [x], [y]
        for layer, bias in enumerate((b1, b2, b3)):
            x, y = quantizers[layer + 1].forward(torch.addmm(bias, x, weights[layer].dequantized.t()), steps[layer + 1])
            outputs.append(x)
            scaled.append(y)
        ctx.quantizers, ctx.weights, ctx.bits = quantizers, weights, bits
        ctx.scales_pass = [float(s) >= MIN_SCALE for s in raw_scales]
        ctx.save_for_backward(*outputs, *scaled, *steps)
        return x

    @staticmethod
    def backward(ctx, grad):
        quantizers, weights = ctx.quantizers, ctx.weights
        saved = ctx.saved_tensors
        outputs, scaled, steps = saved[0:4], saved[4:8], saved[8:12]
        weight_quantizer = Quantizer.of(ctx.bits[1], signed=True)

        grad_steps = [None] * 4
        grad_weights, grad_biases = [None] * 3, [None] * 3
        grad_pre, grad_steps[3] = quantizers[3].backward(grad, scaled[3], outputs[3], steps[3])
        for layer in (2, 1, 0):
            weight = weights[layer]
            grad_wq = grad_pre.t().mm(outputs[layer])
            grad_biases[layer] = grad_pre.sum(0)
            grad_input = grad_pre.mm(weight.dequantized)
            # The weight's STE passes grad_wq on unchanged; its scale (abs max) adds to one entry.
            grad_w, grad_step_w = weight_quantizer.backward(
                grad_wq, weight.scaled, weight.dequantized, weight.step, clip_ste=True
            )
            if weight.scale_grad_sign:
                # grad_w is grad_wq, made here, so it can take the addition in place.
                grad_w.view(-1)[weight.flat_index].add_(grad_step_w * (weight.scale_grad_sign / weight_quantizer.divisor))
            grad_weights[layer] = grad_w
            grad_pre, grad_steps[layer] = quantizers[layer].backward(grad_input, scaled[layer], outputs[layer], steps[layer])

        grad_scales = [
            g.div_(q.divisor) if passes else torch.zeros(())
            for g, q, passes in zip(grad_steps, quantizers, ctx.scales_pass)
        ]
        return (
            grad_pre if ctx.needs_input_grad[0] else None,
            grad_weights[0], grad_biases[0], grad_weights[1], grad_biases[1], grad_weights[2], grad_biases[2],
            *grad_scales,
            None,
            None,
        )


def quantized_mlp(obs, linears, weights: list[QuantizedWeight], scales, bits: tuple[int, int, int]) -> torch.Tensor:
    """The post-warm-up QDQ policy forward with a hand-written backward.

    ``weights`` are the current ``quantize_weight`` records of the three linears,
    ``scales`` the four activation-scale parameters (input, hidden 1, hidden 2,
    output), ``bits`` (input, core, output).
    """
    fc1, fc2, fc3 = linears
    return _QuantizedMLP.apply(
        obs, fc1.weight, fc1.bias, fc2.weight, fc2.bias, fc3.weight, fc3.bias, *scales, bits, weights
    )
