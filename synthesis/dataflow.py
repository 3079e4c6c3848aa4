"""The integer network as a FINN-ONNX graph: what FINN maps to hardware.

Each layer is a ``MatMul`` with integer weights followed by a ``MultiThreshold`` with
the layer's integer thresholds, on an integer input (the quantized observation), so
FINN sees exactly the integer network of ``synthesis.lowering`` and nothing of the
float input quantizer or the tanh lookup (the paper counts only the integer part).
The observation and action dimensions are zero-padded to a multiple (32 in the paper):
padded inputs meet zero weights, padded outputs are constant and ignored.
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper, numpy_helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.infer_datatypes import InferDataTypes
from qonnx.transformation.infer_shapes import InferShapes

from synthesis.lowering import IntegerPolicy, int_range

INPUT_NAME = "obs_int"


def padded(size: int, multiple: int) -> int:
    return -(-size // multiple) * multiple


def _datatype(bits: int, signed: bool) -> DataType:
    return DataType[f"{'INT' if signed else 'UINT'}{bits}"]


def finn_model(policy: IntegerPolicy, pad_multiple: int, output_thresholds: bool = True) -> ModelWrapper:
    """A FINN-ONNX ``ModelWrapper`` of ``policy`` with padded input and output.

    Without ``output_thresholds`` the last layer streams its accumulators (FINN maps it to
    an MVAU without activation) and its requantization is left to the output lookup, as
    the published FINN builds had it (``synthesis.finn_build``).
    """
    nodes, initializers, datatypes = [], [], {}
    tensor = INPUT_NAME
    obs_width = padded(policy.obs_dim, pad_multiple)
    datatypes[tensor] = _datatype(policy.input_bits, signed=True)
    last = len(policy.layers) - 1
    for index, layer in enumerate(policy.layers):
        rows, columns = layer.weights.shape
        rows_padded = padded(rows, pad_multiple) if index == last else rows
        columns_padded = obs_width if index == 0 else columns
        weights = np.zeros((rows_padded, columns_padded))
        weights[:rows, :columns] = layer.weights
        # A padded output's accumulator is always 0; thresholds of 1 keep it at the lowest level.
        thresholds = np.ones((rows_padded, layer.thresholds.shape[1]))
        thresholds[:rows] = layer.thresholds
        weight_name, threshold_name = f"weights_{index}", f"thresholds_{index}"
        accumulator, output = f"accumulator_{index}", f"activation_{index}"
        # ONNX MatMul takes weights as (in, out).
        initializers.append(numpy_helper.from_array(weights.T.astype(np.float32), weight_name))
        nodes.append(helper.make_node("MatMul", [tensor, weight_name], [accumulator], name=f"MatMul_{index}"))
        datatypes[weight_name] = _datatype(layer.weight_bits, signed=True)
        if index == last and not output_thresholds:
            tensor = accumulator
            break
        initializers.append(numpy_helper.from_array(thresholds.astype(np.float32), threshold_name))
        nodes.append(
            helper.make_node(
                "MultiThreshold",
                [accumulator, threshold_name],
                [output],
                domain="qonnx.custom_op.general",
                out_dtype=_datatype(layer.output_bits, layer.output_signed).name,
                out_bias=float(int_range(layer.output_bits, layer.output_signed)[0]),
                name=f"MultiThreshold_{index}",
            )
        )
        tensor = output
    graph = helper.make_graph(
        nodes,
        "integer_policy",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, [1, obs_width])],
        [helper.make_tensor_value_info(tensor, TensorProto.FLOAT, [1, padded(policy.action_dim, pad_multiple)])],
        initializers,
    )
    model = ModelWrapper(helper.make_model(graph, producer_name="dse"))
    for name, datatype in datatypes.items():
        model.set_tensor_datatype(name, datatype)
    return model.transform(InferShapes()).transform(InferDataTypes())
