"""The paper's quantizer (docs/training.md), written once.

    Q_b(x; s)   = clip(round(x * q_s / s), q_min, q_max)
    QDQ_b(x; s) = (s / q_s) * Q_b(x; s)

Signed tensors (input, weights, output) use [-2^(b-1), 2^(b-1) - 1]; the
unsigned ones after each hidden ReLU use [0, 2^b - 1]; q_s = max(|q_min|, |q_max|).
Rounding passes gradients straight through. Clipping does too for weights (whose
scale is their own abs max, so only the rounding edge clips) and passes them only
inside the range for activations, whose learned scale takes the clipped part:
Brevitas' choice (TensorClampSte for statistics scaling, TensorClamp for learned).

Scales are per member (``training.networks``): a tensor's leading dimension
indexes the independently trained members, and its scale is a vector with one
entry each (shape (members,); a 0-d scale is one scale for the whole tensor).

This module (and ``training.fused``, which strings the same ``Quantizer`` through
the whole policy) is the training path. Brevitas computes the same thing
(``training.brevitas_policy`` builds the Brevitas twin; a test checks forward
values bit for bit and gradients to float rounding, call by call through the
warm-up), but Brevitas pays ~190 module calls per forward, which made QAT 2.5x
slower than FP32 training.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

#: Lower bound on any scale, as Brevitas' ``scaling_min_val``.
MIN_SCALE = 1e-10


def int_range(bits: int, signed: bool) -> tuple[int, int]:
    """[q_min, q_max] of a ``bits``-bit integer."""
    if signed:
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


def scale_divisor(bits: int, signed: bool) -> int:
    """q_s = max(|q_min|, |q_max|): a float scale s maps s / q_s to one integer step."""
    q_min, q_max = int_range(bits, signed)
    return max(-q_min, q_max)


@dataclass(frozen=True)
class Quantizer:
    """Q_b and QDQ_b for one bit width and signedness, optionally of relu(x).

    Every path computes y = x / step, q = clip(round(y)), out = q * step with the
    same operations in the same order, so all of them agree bit for bit (and with
    Brevitas, which divides by the same step). With ``relu`` the lower clip at 0
    is the ReLU: values below zero come out as 0 (or -0, which compares equal).

    Gradients (``backward``): rounding passes them straight through; x gets g where
    the rounded value lies in [q_min, q_max] (and x > 0 with ``relu``), or g
    everywhere with ``clip_ste``; the step gets sum(g * (q - y * pass)).
    """

    q_min: int
    q_max: int
    divisor: int
    relu: bool
    bounds: tuple[float, float]
    """open interval of y whose rounding lands inside the range (see ``of``)"""

    @classmethod
    @functools.cache
    def of(cls, bits: int, signed: bool, relu: bool = False) -> Quantizer:
        q_min, q_max = int_range(bits, signed)
        # Ties round to even: q_max is odd, so q_max + 0.5 rounds out; q_min is even,
        # so q_min - 0.5 rounds in and the open bound is the float32 just below it.
        # With relu, y > 0 is the ReLU's own condition.
        lower = 0.0 if relu else float(np.nextafter(np.float32(q_min - 0.5), np.float32(-np.inf)))
        return cls(q_min, q_max, scale_divisor(bits, signed), relu, (lower, q_max + 0.5))

    def step(self, scale: torch.Tensor, dims: int) -> torch.Tensor:
        """Each member's step, shaped to broadcast over a tensor of ``dims`` dimensions (members first)."""
        step = scale / self.divisor
        return step.reshape(-1, *(1,) * (dims - 1)) if step.dim() else step

    def qdq_(self, x: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
        """QDQ without gradients, overwriting nothing but a fresh y."""
        return (x / step).round_().clamp_(self.q_min, self.q_max).mul_(step)

    def qdq_owned_(self, x: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
        """QDQ without gradients, in place on an ``x`` the caller owns."""
        return x.div_(step).round_().clamp_(self.q_min, self.q_max).mul_(step)

    def forward(self, x: torch.Tensor, step: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(QDQ output, y): what ``backward`` needs besides the step."""
        y = x / step
        return torch.round(y).clamp_(self.q_min, self.q_max).mul_(step), y

    def backward(
        self, grad: torch.Tensor, y: torch.Tensor, out: torch.Tensor, step: torch.Tensor, clip_ste: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(gradient to x, gradient to step), with q = out / step. Masks come from
        ``hardtanh_backward`` because boolean tensor ops are ten times slower than float ones here."""
        grad_x = grad if clip_ste else torch.ops.aten.hardtanh_backward(grad, y, *self.bounds)
        grad_step = member_dot(grad, out, step) / step - member_dot(grad_x, y, step)
        return grad_x, grad_step


def member_dot(a: torch.Tensor, b: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """sum(a * b) per member, shaped as the per-member ``like`` (a step)."""
    members = like.shape[0] if like.dim() else 1
    return torch.linalg.vecdot(a.reshape(members, -1), b.reshape(members, -1)).reshape(like.shape)


class _QDQ(torch.autograd.Function):
    """One quantizer as an autograd node with ``Quantizer.backward``'s gradients."""

    @staticmethod
    def forward(ctx, x, step, quantizer: Quantizer, clip_ste: bool):
        out, y = quantizer.forward(x, step)
        ctx.save_for_backward(y, out, step)
        ctx.quantizer, ctx.clip_ste = quantizer, clip_ste
        return out

    @staticmethod
    def backward(ctx, grad):
        grad_x, grad_step = ctx.quantizer.backward(grad, *ctx.saved_tensors, clip_ste=ctx.clip_ste)
        return grad_x, grad_step, None, None


def qdq(
    x: torch.Tensor, scale: torch.Tensor, bits: int, signed: bool, *, relu: bool = False, clip_ste: bool = False
) -> torch.Tensor:
    """QDQ_b(x; s) (of relu(x) with ``relu``), with the straight-through gradients of ``Quantizer``.

    ``scale``: one per member of ``x`` (shape (members,)), or 0-d for all of it."""
    quantizer = Quantizer.of(bits, signed, relu)
    step = quantizer.step(scale, x.dim())
    if not torch.is_grad_enabled():
        return quantizer.qdq_(x, step)
    return _QDQ.apply(x, step, quantizer, clip_ste)


def qdq_weight(weight: torch.Tensor, bits: int) -> torch.Tensor:
    """QDQ of each member's weight matrix (members, out, in): signed, scale = its abs max
    (recomputed, never learned), STE through the clip."""
    return qdq(weight, weight_scale(weight), bits, signed=True, clip_ste=True)


def abs_percentile(x: torch.Tensor, percentile: float, members: int) -> torch.Tensor:
    """The ``percentile``-th percentile of |x| over each member's part of ``x`` (Brevitas' AbsPercentile)."""
    per_member = x.abs().reshape(members, -1)
    k = int(math.floor(0.01 * percentile * per_member.shape[1] + 0.5))
    return torch.kthvalue(per_member, max(k, 1), dim=1)[0]


def weight_scale(weight: torch.Tensor) -> torch.Tensor:
    """Each member's weight scale: the absolute maximum of its matrix, recomputed on every call, never learned."""
    return torch.clamp(weight.abs().reshape(weight.shape[0], -1).amax(1), min=MIN_SCALE)


class ActQuant(nn.Module):
    """QDQ of an activation with a learned scale initialised from runtime statistics.

    For the first ``warmup_steps`` forward calls in training mode the scale is the
    ``percentile``-th percentile of |x| in the current batch, and an exponential
    moving average of it (``momentum``) is kept; eval-mode calls during that time
    use the average and collect nothing. Afterwards the average becomes the
    learned parameter ``value``. This is Brevitas' ParameterFromRuntimeStatsScaling.
    Only training-mode calls count, so acting in eval mode never eats the warm-up.
    With ``relu`` it quantizes relu(x): the ReLU before an unsigned quantizer, fused in.
    Counter, average and value hold one entry per member: one when built,
    more once stacked (``training.networks``); the members' counters always agree.
    """

    def __init__(
        self, bits: int, signed: bool, warmup_steps: int, percentile: float, momentum: float, relu: bool = False
    ):
        super().__init__()
        self.bits = bits
        self.signed = signed
        self.relu = relu
        self.warmup_steps = warmup_steps
        self.percentile = percentile
        self.momentum = momentum
        self.register_buffer("counter", torch.zeros(1, dtype=torch.int64))
        self.register_buffer("running_stat", torch.ones(1))
        self.value = nn.Parameter(torch.ones(1))

    @property
    def warming_up(self) -> bool:
        return int(self.counter[0]) <= self.warmup_steps

    def scale(self, x: torch.Tensor | None = None) -> torch.Tensor:
        """The scale s this call uses (updating the warm-up statistics in training mode)."""
        counter = int(self.counter[0])
        if not self.training:
            return torch.clamp(self.running_stat if counter <= self.warmup_steps else self.value, min=MIN_SCALE)
        if counter < self.warmup_steps:
            stat = torch.clamp(abs_percentile(x, self.percentile, len(self.counter)), min=MIN_SCALE)
            if counter == 0:
                self.running_stat.copy_(stat.detach())
            else:
                self.running_stat.mul_(1 - self.momentum).add_(self.momentum * stat.detach())
            self.counter += 1
            return stat
        if counter == self.warmup_steps:
            with torch.no_grad():
                self.value.copy_(self.running_stat)
            self.counter += 1
        return torch.clamp(self.value, min=MIN_SCALE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.relu:
            # The statistics are those of relu(x), as a quantizer after a ReLU sees them.
            scale = self.scale(torch.relu(x)) if self.training and self.warming_up else self.scale()
            return qdq(x, scale, self.bits, self.signed, relu=True)
        return qdq(x, self.scale(x), self.bits, self.signed)

    def extra_repr(self) -> str:
        return f"bits={self.bits}, signed={self.signed}, relu={self.relu}, warmup_steps={self.warmup_steps}"
