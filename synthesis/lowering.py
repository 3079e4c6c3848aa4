"""Integer-only lowering of a QONNX policy (the paper; docs/hardware.md).

The QONNX file Brevitas writes is a chain

    Quant(obs) -> [Gemm(x, Quant(W), b) -> Relu -> Quant(unsigned)] x hidden -> Gemm -> Quant(signed)

With frozen scales every Quant is ``clip(round(x / step))`` (round half to even) and
every Gemm sees ``x = x_int * step_x`` and ``W = W_int * step_w``, so a layer's
pre-activation is ``step_x * step_w * acc + b`` with the integer accumulator
``acc = W_int @ x_int``. The next Quant's output is then a non-decreasing step
function of ``acc``: level ``m`` is reached exactly when ``acc`` reaches an integer
threshold. The thresholds here are computed so that the integer network equals the
QONNX network evaluated in exact arithmetic, ties included; the only float operation
left is the input quantizer.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property
from pathlib import Path

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import numpy_helper

from synthesis.errors import SynthesisInputError


def int_range(bits: int, signed: bool) -> tuple[int, int]:
    if signed:
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


@dataclass(frozen=True, eq=False)
class IntegerLayer:
    """One matrix-vector product and its multi-threshold requantization.

    The layer's output level is ``out_min + count(acc >= thresholds[c])`` for
    channel ``c``: a multi-threshold unit as FINN builds it.
    """

    weights: np.ndarray
    """(out, in) int64 in the signed ``weight_bits`` range"""
    weight_bits: int
    thresholds: np.ndarray
    """(out, 2^output_bits - 1) int64, ascending per row, inside the accumulator's reach"""
    output_bits: int
    output_signed: bool

    @property
    def out_min(self) -> int:
        return int_range(self.output_bits, self.output_signed)[0]

    def accumulate(self, x_int: np.ndarray) -> np.ndarray:
        """The integer matrix-vector products, exactly.

        Float64 holds every integer below 2^53, and no partial sum of a product
        can exceed the row's sum of |weights| times the largest |input|: below that
        bound BLAS's float matmul is exact in any summation order (and far faster
        than numpy's integer one).
        """
        x_int = np.asarray(x_int, dtype=np.int64)
        if x_int.size and self._largest_row_sum * int(np.abs(x_int).max()) >= 2**53:
            return x_int @ self.weights.T
        return (x_int.astype(np.float64) @ self._float_weights_t).astype(np.int64)

    @cached_property
    def _float_weights_t(self) -> np.ndarray:
        return np.ascontiguousarray(self.weights.T, dtype=np.float64)

    @cached_property
    def _largest_row_sum(self) -> int:
        return int(np.abs(self.weights).sum(axis=1).max())

    def requantize(self, acc: np.ndarray) -> np.ndarray:
        """Per channel, how many of its thresholds the accumulator reaches (one search for every channel at once)."""
        table, shift, low, high = self._threshold_table
        reached = np.searchsorted(table, np.clip(acc, low - 1, high) + shift, side="right")
        return reached - np.arange(self.thresholds.shape[0]) * self.thresholds.shape[1] + self.out_min

    @cached_property
    def _threshold_table(self) -> tuple[np.ndarray, np.ndarray, int, int]:
        """Every channel's thresholds in one ascending array, channel c's moved up by c times their span.

        An accumulator clipped to [lowest - 1, highest] and moved up the same way
        lands among its own channel's thresholds only, so the count of table
        entries at or below it, less c times the thresholds per channel, is its level.
        """
        low, high = int(self.thresholds.min()), int(self.thresholds.max())
        shift = np.arange(self.thresholds.shape[0], dtype=np.int64) * (high - low + 1) - low
        return (self.thresholds + shift[:, None]).ravel(), shift, low, high


@dataclass(frozen=True, eq=False)
class IntegerPolicy:
    """The deployed integer network: input quantizer, then integer layers only."""

    input_step: float
    """the input quantizer's step (scale / q_s): the one float operation"""
    input_bits: int
    layers: tuple[IntegerLayer, ...]
    output_step: float
    """the output quantizer's step: pre-tanh action = level * output_step"""

    @property
    def obs_dim(self) -> int:
        return self.layers[0].weights.shape[1]

    @property
    def action_dim(self) -> int:
        return self.layers[-1].weights.shape[0]

    def quantize_input(self, obs: np.ndarray) -> np.ndarray:
        """Normalized observations -> input integers (float64, as the exact reference does)."""
        low, high = int_range(self.input_bits, signed=True)
        scaled = np.asarray(obs, dtype=np.float64) / np.float64(self.input_step)
        return np.clip(np.round(scaled), low, high).astype(np.int64)

    def forward_int(self, x_int: np.ndarray) -> np.ndarray:
        """Integer inputs (batch, obs) -> integer output levels (batch, actions)."""
        x = np.asarray(x_int, dtype=np.int64)
        for layer in self.layers:
            x = layer.requantize(layer.accumulate(x))
        return x

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """Normalized observations -> output levels; ``tanh(level * output_step)`` is the action."""
        return self.forward_int(self.quantize_input(obs))

    def actions(self, obs: np.ndarray) -> np.ndarray:
        """Normalized observations -> actions in [-1, 1] as deployed: the integer network, then the tanh table.

        The table holds ``tanh(level * output_step)`` for each output level, so this is exact.
        """
        return np.tanh(self(obs) * np.float64(self.output_step)).astype(np.float32)

    def digest(self) -> str:
        """Content hash: equal for equal integer networks, whatever file they came from."""
        sha = hashlib.sha256()
        sha.update(np.float64(self.input_step).tobytes() + np.float64(self.output_step).tobytes())
        sha.update(str(self.input_bits).encode())
        for layer in self.layers:
            sha.update(f"{layer.weight_bits},{layer.output_bits},{layer.output_signed}".encode())
            sha.update(np.ascontiguousarray(layer.weights).tobytes())
            sha.update(np.ascontiguousarray(layer.thresholds).tobytes())
        return sha.hexdigest()[:16]


@dataclass(frozen=True)
class _Quant:
    step: float
    bits: int
    signed: bool


def thresholds_for(
    bias: np.ndarray,
    acc_step: Fraction,
    out: _Quant,
    acc_low: np.ndarray,
    acc_high: np.ndarray,
) -> np.ndarray:
    """Integer thresholds of ``clip(round((acc_step * acc + bias) / out.step))``.

    Level ``m`` is reached when ``(acc_step * acc + b) / step >= m - 1/2``, where a tie
    rounds to the even neighbour, so at equality level ``m`` counts only for even ``m``.
    A ReLU before an unsigned quantizer changes nothing: its levels start at 1, above 0.
    Candidates come from float64 and are settled exactly with fractions whenever they
    lie within float error of an integer. Thresholds outside the accumulator's reach
    are clamped to one past it, which keeps every reachable output unchanged.
    """
    out_low, out_high = int_range(out.bits, out.signed)
    levels = np.arange(out_low + 1, out_high + 1)
    step = Fraction(out.step)
    estimate = ((levels[None, :] - 0.5) * out.step - bias.astype(np.float64)[:, None]) / float(acc_step)
    thresholds = np.ceil(estimate)
    near = np.abs(estimate - np.round(estimate)) < 1e-6 * np.maximum(1.0, np.abs(estimate))
    for channel, index in zip(*np.nonzero(near)):
        level = int(levels[index])
        exact = ((level - Fraction(1, 2)) * step - Fraction(float(bias[channel]))) / acc_step
        threshold = math.ceil(exact)
        if exact.denominator == 1 and level % 2 != 0:
            threshold += 1
        thresholds[channel, index] = threshold
    thresholds = np.clip(thresholds, acc_low[:, None], acc_high[:, None] + 1)
    return thresholds.astype(np.int64)


def accumulator_reach(weights: np.ndarray, x_low: int, x_high: int) -> tuple[np.ndarray, np.ndarray]:
    """Per output channel, the least and greatest accumulator value for inputs in [x_low, x_high]."""
    low = np.minimum(weights * x_low, weights * x_high).sum(axis=1)
    high = np.maximum(weights * x_low, weights * x_high).sum(axis=1)
    return low, high


class _Graph:
    """Read-only view of a QONNX graph: producers, consumers, constants."""

    def __init__(self, model: onnx.ModelProto, source: str):
        self.source = source
        graph = model.graph
        self.constants = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
        for node in graph.node:
            if node.op_type == "Constant":
                self.constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
        self.nodes = [node for node in graph.node if node.op_type != "Constant"]
        self.producer = {out: node for node in self.nodes for out in node.output}
        self.inputs = [i.name for i in graph.input if i.name not in self.constants]
        self.outputs = [o.name for o in graph.output]

    def fail(self, what: str) -> SynthesisInputError:
        return SynthesisInputError(f"{self.source} is not a QONNX policy this flow can lower: {what}")

    def consumer(self, tensor: str):
        users = [node for node in self.nodes if tensor in node.input]
        if len(users) != 1:
            raise self.fail(f"tensor {tensor} feeds {len(users)} nodes, expected one")
        return users[0]

    def constant(self, tensor: str) -> np.ndarray:
        if tensor not in self.constants:
            raise self.fail(f"{tensor} is not a constant")
        return self.constants[tensor]

    def quant(self, node) -> _Quant:
        if node.op_type != "Quant":
            raise self.fail(f"expected a Quant node, found {node.op_type} ({node.name})")
        attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        rounding = attributes.get("rounding_mode", b"ROUND")
        rounding = rounding.decode() if isinstance(rounding, bytes) else rounding
        if rounding != "ROUND" or attributes.get("narrow", 0) != 0:
            raise self.fail(f"{node.name} uses rounding {rounding} / narrow range; only ROUND, full range")
        scale, zero_point, bits = (self.constant(name) for name in node.input[1:4])
        if scale.size != 1 or np.any(zero_point != 0):
            raise self.fail(f"{node.name} has a per-channel scale or a zero point; only per-tensor, zero-centred")
        if not float(scale) > 0:
            raise self.fail(f"{node.name} has scale {float(scale)}; scales must be positive")
        return _Quant(float(scale), int(bits), bool(attributes.get("signed", 1)))

    def gemm(self, node) -> tuple[np.ndarray, _Quant, np.ndarray]:
        """(float weights as (out, in), their quantizer, bias) of a Gemm with a quantized weight."""
        if node.op_type != "Gemm":
            raise self.fail(f"expected a Gemm, found {node.op_type} ({node.name})")
        attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if attributes.get("transA", 0) or attributes.get("alpha", 1.0) != 1.0 or attributes.get("beta", 1.0) != 1.0:
            raise self.fail(f"{node.name} has transA/alpha/beta set")
        weight_quant = self.producer.get(node.input[1])
        if weight_quant is None:
            raise self.fail(f"{node.name} has an unquantized weight")
        weights = self.constant(weight_quant.input[0]).astype(np.float32)
        if not attributes.get("transB", 0):
            weights = weights.T
        bias = self.constant(node.input[2]) if len(node.input) > 2 else np.zeros(weights.shape[0], np.float32)
        return weights, self.quant(weight_quant), bias.astype(np.float32).reshape(-1)


def integer_weights(weights: np.ndarray, quant: _Quant) -> np.ndarray:
    """clip(round(W / step)) exactly as the QONNX Quant node computes it (float32)."""
    low, high = int_range(quant.bits, quant.signed)
    return np.clip(np.round(weights / np.float32(quant.step)), low, high).astype(np.int64)


def lower_qonnx(path: Path | str) -> IntegerPolicy:
    """The integer-only network of the QONNX policy at ``path``."""
    path = Path(path)
    try:
        model = onnx.load(str(path))
    except (OSError, DecodeError) as error:
        raise SynthesisInputError(f"{path} cannot be read as ONNX: {error}") from None
    graph = _Graph(model, str(path))
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise graph.fail(f"{len(graph.inputs)} inputs and {len(graph.outputs)} outputs, expected one each")
    node = graph.consumer(graph.inputs[0])
    if node.op_type != "Quant":
        raise graph.fail("its input is not quantized (an FP32 policy has no integer form)")
    x_quant = graph.quant(node)
    if not x_quant.signed:
        raise graph.fail("the input quantizer is unsigned; the policy input is signed")
    input_quant = x_quant
    tensor = node.output[0]
    layers: list[IntegerLayer] = []
    while True:
        gemm = graph.consumer(tensor)
        weights, weight_quant, bias = graph.gemm(gemm)
        int_w = integer_weights(weights, weight_quant)
        after = graph.consumer(gemm.output[0])
        hidden = after.op_type == "Relu"
        out_node = graph.consumer(after.output[0]) if hidden else after
        out_quant = graph.quant(out_node)
        if hidden == out_quant.signed:
            raise graph.fail(f"{out_node.name}: hidden quantizers must be unsigned after a ReLU, the output signed")
        x_low, x_high = int_range(x_quant.bits, x_quant.signed)
        acc_low, acc_high = accumulator_reach(int_w, x_low, x_high)
        acc_step = Fraction(x_quant.step) * Fraction(weight_quant.step)
        layers.append(
            IntegerLayer(
                weights=int_w,
                weight_bits=weight_quant.bits,
                thresholds=thresholds_for(bias, acc_step, out_quant, acc_low, acc_high),
                output_bits=out_quant.bits,
                output_signed=out_quant.signed,
            )
        )
        tensor = out_node.output[0]
        x_quant = out_quant
        if not hidden:
            break
    if tensor != graph.outputs[0]:
        raise graph.fail("nodes follow the output quantizer")
    return IntegerPolicy(input_quant.step, input_quant.bits, tuple(layers), x_quant.step)
