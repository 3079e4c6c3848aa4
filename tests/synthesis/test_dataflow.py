"""The FINN-ONNX graph FINN maps computes the integer network, padded as the paper does (docs/hardware.md)."""

import numpy as np
import pytest
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx

from synthesis import lower_qonnx
from synthesis.dataflow import INPUT_NAME, finn_model


@pytest.mark.parametrize("pad_multiple", [32, 1])
def test_finn_graph_executes_as_the_integer_network(policy_onnx, pad_multiple, tmp_path):
    policy = lower_qonnx(policy_onnx(obs_dim=11, act_dim=3, core_bits=3, input_bits=5, output_bits=4))
    model = finn_model(policy, pad_multiple)
    model.save(str(tmp_path / "m.onnx"))
    model = ModelWrapper(str(tmp_path / "m.onnx"))
    obs_width = model.get_tensor_shape(INPUT_NAME)[1]
    action_width = model.get_tensor_shape(model.graph.output[0].name)[1]
    assert (obs_width, action_width) == ((32, 32) if pad_multiple == 32 else (11, 3))
    assert model.get_tensor_datatype(INPUT_NAME) == DataType["INT5"]
    assert model.get_tensor_datatype(model.graph.output[0].name) == DataType["INT4"]
    x_int = policy.quantize_input(np.random.default_rng(0).normal(0, 2, (30, 11)))
    padded = np.zeros((30, obs_width), np.float32)
    padded[:, :11] = x_int
    rows = [execute_onnx(model, {INPUT_NAME: row[None]})[model.graph.output[0].name][0] for row in padded]
    rows = np.array(rows)
    assert np.array_equal(rows[:, :3].astype(np.int64), policy.forward_int(x_int))
    # padded outputs: zero weights, so a constant lowest level
    assert np.all(rows[:, 3:] == -8)
