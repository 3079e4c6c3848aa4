"""Small real policies for synthesis tests: untrained PolicyNets past their scale warm-up, exported by Brevitas."""

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from synthesis.lowering import IntegerLayer, IntegerPolicy, accumulator_reach, int_range
from training.export import untrained_policy_onnx


@pytest.fixture(scope="session")
def policy_onnx(tmp_path_factory):
    """Factory of QONNX policies, cached per setting for the session."""
    made: dict[tuple, Path] = {}
    folder = tmp_path_factory.mktemp("policies")

    def make(obs_dim=11, act_dim=3, width=16, core_bits=2, input_bits=6, output_bits=8, seed=0) -> Path:
        key = (obs_dim, act_dim, width, core_bits, input_bits, output_bits, seed)
        if key not in made:
            name = "-".join(str(value) for value in key)
            made[key] = untrained_policy_onnx(folder / f"{name}.onnx", *key)
        return made[key]

    return make


def qdq_reference(path: Path, obs: np.ndarray, dtype=np.float64) -> np.ndarray:
    """The QONNX graph evaluated node by node in ``dtype``: the QDQ policy by its definition.

    Independent of synthesis.lowering (no thresholds): Quant is clip(round(x / scale)) * scale.
    """
    model = onnx.load(str(path))
    values = {init.name: numpy_helper.to_array(init).astype(dtype) for init in model.graph.initializer}
    values[model.graph.input[0].name] = np.asarray(obs, dtype)
    for node in model.graph.node:
        attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "Constant":
            values[node.output[0]] = numpy_helper.to_array(attributes["value"]).astype(dtype)
            continue
        inputs = [values[name] for name in node.input]
        if node.op_type == "Quant":
            x, scale, _, bits = inputs
            bits = int(bits)
            low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if attributes["signed"] else (0, 2**bits - 1)
            out = np.clip(np.round(x / scale), low, high) * scale
        elif node.op_type == "Gemm":
            x, weights, bias = inputs
            out = x @ (weights.T if attributes.get("transB") else weights) + bias
        elif node.op_type == "Relu":
            out = np.maximum(inputs[0], 0)
        else:
            raise AssertionError(f"unexpected node {node.op_type}")
        values[node.output[0]] = out
    return values[model.graph.output[0].name]


def integer_network(seed: int, widths: list[int], weight_bits: int, input_bits: int, output_bits: list[int]) -> IntegerPolicy:
    """A fixed-weight integer network: random weights, random ascending thresholds inside each accumulator's reach."""
    rng = np.random.default_rng(seed)
    layers, x_low, x_high = [], *int_range(input_bits, signed=True)
    for index, (columns, rows) in enumerate(zip(widths, widths[1:])):
        signed = index == len(widths) - 2
        w_low, w_high = int_range(weight_bits, signed=True)
        weights = rng.integers(w_low, w_high + 1, size=(rows, columns))
        low, high = accumulator_reach(weights, x_low, x_high)
        count = 2 ** output_bits[index] - 1
        thresholds = np.sort(rng.integers(low[:, None] // 2, high[:, None] // 2 + 2, size=(rows, count)), axis=1)
        layers.append(IntegerLayer(weights, weight_bits, thresholds, output_bits[index], signed))
        x_low, x_high = int_range(output_bits[index], signed)
    return IntegerPolicy(0.1, input_bits, tuple(layers), 0.05)


NETWORKS = {
    "two-layer": integer_network(1, [7, 24, 3], weight_bits=4, input_bits=6, output_bits=[3, 5]),
    "three-layer": integer_network(2, [5, 16, 16, 2], weight_bits=3, input_bits=8, output_bits=[2, 4, 8]),
    # 2-bit weights and odd output widths, folded to one neuron fold over several slices
    "odd-bits": integer_network(4, [5, 12, 3], weight_bits=2, input_bits=5, output_bits=[3, 7]),
    # input vectors over rtl.SLICE_SHIFTER_MAX_BITS (64 x 7 and 48 x 6 bits): slices read in two stages, last groups partial
    "wide-input": integer_network(6, [40, 48, 3], weight_bits=3, input_bits=7, output_bits=[6, 5]),
}
