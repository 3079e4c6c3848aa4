"""The quantizer of SPEC section 2, written once.

    Q_b(x; s)   = clip(round(x * q_s / s), q_min, q_max)
    QDQ_b(x; s) = (s / q_s) * Q_b(x; s)

Signed tensors (input, weights, output) use [-2^(b-1), 2^(b-1) - 1]; the
unsigned ones after each hidden ReLU use [0, 2^b - 1]; q_s = max(|q_min|, |q_max|).
Rounding passes gradients straight through. Clipping does too for weights (whose
scale is their own abs max, so only the rounding edge clips) and passes them only
inside the range for activations, whose learned scale takes the clipped part:
Brevitas' choice (TensorClampSte for statistics scaling, TensorClamp for learned).

These plain-torch modules are the training path: Brevitas computes the same
thing (``training.brevitas_policy`` builds the Brevitas twin, and a test checks
forward values, gradients and the warm-up step by step), but Brevitas pays
~190 module calls per forward, which made QAT 2.5x slower than FP32 training.
"""

from __future__ import annotations

import math

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


class _QDQ(torch.autograd.Function):
    """QDQ with hand-written gradients: eight passes over the tensor instead of ~20.

    Forward, with y = x / step (y = max(x / step, 0) when the ReLU is fused in):
        out = clamp(round(y), q_min, q_max) * step
    Backward, the gradients autograd would give for that expression with round
    as identity:
        d/dx    = g where the rounded value lies in [q_min, q_max] (and x > 0 with
                  the ReLU), else 0; always g when ``clip_ste``
        d/dstep = sum(g * (q - y * pass))
    Masks come from ``hardtanh_backward`` (y strictly inside (lo, hi)), since
    boolean tensor ops are ten times slower than float ones here.
    """

    @staticmethod
    def forward(ctx, x, step, q_min: int, q_max: int, relu: bool, clip_ste: bool):
        y = x / step
        if relu:
            y = y.clamp_(min=0)
        q = torch.round(y).clamp_(q_min, q_max)
        ctx.save_for_backward(y, q)
        ctx.bounds = None if clip_ste else _pass_bounds(q_min, q_max, relu)
        return q * step

    @staticmethod
    def backward(ctx, grad):
        y, q = ctx.saved_tensors
        grad_x = grad if ctx.bounds is None else torch.ops.aten.hardtanh_backward(grad, y, *ctx.bounds)
        grad_step = torch.dot(grad.reshape(-1), q.reshape(-1)) - torch.dot(grad_x.reshape(-1), y.reshape(-1))
        return grad_x, grad_step.reshape(()), None, None, None, None


def _pass_bounds(q_min: int, q_max: int, relu: bool) -> tuple[float, float]:
    """Open interval of y whose rounding lands in [q_min, q_max] (ties round to even).

    q_max is odd, so q_max + 0.5 rounds out; q_min is even (or 0), so q_min - 0.5
    rounds in, and the lower bound is the float32 just below it. With the ReLU
    fused in, y > 0 is the ReLU's own pass condition.
    """
    upper = q_max + 0.5
    lower = 0.0 if relu else float(np.nextafter(np.float32(q_min - 0.5), np.float32(-np.inf)))
    return lower, upper


def qdq(
    x: torch.Tensor, scale: torch.Tensor, bits: int, signed: bool, *, relu: bool = False, clip_ste: bool = False
) -> torch.Tensor:
    """QDQ_b(x; s) (of relu(x) with ``relu``); gradients pass straight through round,
    and through the clip too with ``clip_ste``."""
    q_min, q_max = int_range(bits, signed)
    step = scale / scale_divisor(bits, signed)
    if not torch.is_grad_enabled():
        # Same values without saving anything: rollouts and targets call this four times per update.
        y = x / step
        if relu:
            y = y.clamp_(min=0)
        return torch.round(y).clamp_(q_min, q_max).mul_(step)
    return _QDQ.apply(x, step, q_min, q_max, relu, clip_ste)


def qdq_weight(weight: torch.Tensor, bits: int) -> torch.Tensor:
    """QDQ of a weight matrix: signed, scale = its abs max (recomputed, never learned), STE through the clip."""
    return qdq(weight, weight_scale(weight), bits, signed=True, clip_ste=True)


def quantize_to_int(x: torch.Tensor, scale: torch.Tensor, bits: int, signed: bool) -> torch.Tensor:
    """Q_b(x; s) as integers (no gradient): what the hardware holds."""
    q_min, q_max = int_range(bits, signed)
    step = scale / scale_divisor(bits, signed)
    return torch.clamp(torch.round(x / step), q_min, q_max).to(torch.int64)


def abs_percentile(x: torch.Tensor, percentile: float) -> torch.Tensor:
    """The ``percentile``-th percentile of |x| over the whole tensor (Brevitas' AbsPercentile)."""
    k = int(math.floor(0.01 * percentile * x.numel() + 0.5))
    return torch.kthvalue(x.abs().reshape(-1), max(k, 1))[0]


def weight_scale(weight: torch.Tensor) -> torch.Tensor:
    """A weight matrix's scale: its absolute maximum, recomputed on every call, never learned."""
    return torch.clamp(weight.abs().max(), min=MIN_SCALE)


class ActQuant(nn.Module):
    """QDQ of an activation with a learned scale initialised from runtime statistics.

    For the first ``warmup_steps`` forward calls in training mode the scale is the
    ``percentile``-th percentile of |x| in the current batch, and an exponential
    moving average of it (``momentum``) is kept; eval-mode calls during that time
    use the average and collect nothing. Afterwards the average becomes the
    learned parameter ``value``. This is Brevitas' ParameterFromRuntimeStatsScaling.
    Only training-mode calls count, so acting in eval mode never eats the warm-up.
    With ``relu`` it quantizes relu(x): the ReLU before an unsigned quantizer, fused in.
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
        self.register_buffer("counter", torch.zeros((), dtype=torch.int64))
        self.register_buffer("running_stat", torch.ones(()))
        self.value = nn.Parameter(torch.ones(()))

    @property
    def warming_up(self) -> bool:
        return int(self.counter) <= self.warmup_steps

    def scale(self, x: torch.Tensor | None = None) -> torch.Tensor:
        """The scale s this call uses (updating the warm-up statistics in training mode)."""
        counter = int(self.counter)
        if not self.training:
            return torch.clamp(self.running_stat if counter <= self.warmup_steps else self.value, min=MIN_SCALE)
        if counter < self.warmup_steps:
            stat = torch.clamp(abs_percentile(x, self.percentile), min=MIN_SCALE)
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
