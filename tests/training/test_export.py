"""policy.onnx, run by qonnx after its cleanup, acts exactly as load_policy does."""

import numpy as np
import pytest
import torch
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx
from qonnx.util.cleanup import cleanup_model

from training import load_policy
from training.envs import make_env


def qonnx_outputs(onnx_path, observations: np.ndarray) -> np.ndarray:
    model = cleanup_model(ModelWrapper(str(onnx_path)))
    input_name, output_name = model.graph.input[0].name, model.graph.output[0].name
    return np.concatenate(
        [execute_onnx(model, {input_name: row[None].astype(np.float32)})[output_name] for row in observations]
    )


def real_observations(env_id: str, normalizer, steps: int = 60) -> np.ndarray:
    env = make_env(env_id)
    obs, _ = env.reset(seed=3)
    rng = np.random.default_rng(3)
    seen = []
    for _ in range(steps):
        seen.append(normalizer(obs))
        obs, _, terminated, truncated, _ = env.step(rng.uniform(env.action_space.low, env.action_space.high))
        if terminated or truncated:
            obs, _ = env.reset()
    return np.stack(seen)


@pytest.mark.parametrize("run_name", ["qat_run", "fp32_run"])
def test_qonnx_execution_matches_load_policy_on_random_and_real_observations(run_name, request):
    run = request.getfixturevalue(run_name)
    policy, normalizer = load_policy(run.run_dir)
    obs_dim = policy.net.fc1.in_features
    random_obs = np.random.default_rng(0).normal(0, 2, (60, obs_dim)).astype(np.float32)
    for observations in (random_obs, real_observations(run.spec.env_id, normalizer)):
        with torch.no_grad():
            expected = policy(torch.as_tensor(observations)).numpy()
        got = np.tanh(qonnx_outputs(run.run_dir / "policy.onnx", observations))
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)


def test_qonnx_graph_holds_the_configured_quantizers(qat_run):
    model = cleanup_model(ModelWrapper(str(qat_run.run_dir / "policy.onnx")))
    quant_nodes = [node for node in model.graph.node if node.op_type == "Quant"]
    # input, three weight matrices, two hidden activations, output
    assert len(quant_nodes) == 7
    bit_widths = sorted(float(model.get_initializer(node.input[3])) for node in quant_nodes)
    assert bit_widths == [2.0, 2.0, 2.0, 2.0, 2.0, 6.0, 8.0]
    assert {node.op_type for node in model.graph.node} == {"Quant", "Gemm", "Relu"}
    assert "Tanh" not in {node.op_type for node in model.graph.node}
