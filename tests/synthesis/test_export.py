"""The FINN build folder: models qonnx loads, the estimated folding, a build config FINN accepts."""

import json

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx

from synthesis import finn_adapter, lower_qonnx
from synthesis.estimate import Synthesizer
from synthesis.export import BUILD_STEPS, write_finn_build


def test_export_folder_holds_what_a_finn_user_needs(policy_onnx, tmp_path):
    path = policy_onnx()
    policy = lower_qonnx(path)
    synthesizer = Synthesizer(policy)
    report = synthesizer.at_target(1e6)
    out = write_finn_build(policy, report, synthesizer.settings, path, tmp_path / "finn")

    model = ModelWrapper(str(out / "integer_policy.onnx"))
    x_int = policy.quantize_input(np.random.default_rng(0).normal(0, 2, (1, 11)))
    padded = np.zeros((1, 32), np.float32)
    padded[:, :11] = x_int
    accumulators = execute_onnx(model, {model.graph.input[0].name: padded})[model.graph.output[0].name][:, :3]
    # the last layer streams its accumulators; the host requantizes them with output_thresholds.json
    output = json.loads((out / "output_thresholds.json").read_text())
    levels = output["out_min"] + (accumulators[:, :, None] >= np.array(output["thresholds"])[None]).sum(axis=2)
    assert np.array_equal(levels, policy.forward_int(x_int)) and output["output_step"] == policy.output_step
    assert not model.get_nodes_by_op_type("MultiThreshold")[-1].output[0] == model.graph.output[0].name
    assert len(ModelWrapper(str(out / "policy.qonnx.onnx")).get_nodes_by_op_type("Quant")) == 7

    folding = json.loads((out / "folding_config.json").read_text())
    layers = {layer.name: layer for layer in report.layers}
    for name, entry in report.folding().items():
        if name != "Defaults":
            assert {key: folding[name][key] for key in entry} == entry
            # the memories and multipliers the model priced, as FINN's attributes
            assert folding[name]["ram_style"] == layers[name].weight_memory
            assert folding[name]["ram_style_thresholds"] == layers[name].threshold_memory
            # products fill the DSPs widest first; a layer the DSPs ran out in is left to Vivado ("auto")
            assert folding[name]["resType"] == {"dsp+lut": "auto"}.get(layers[name].multipliers, layers[name].multipliers)
    assert [layer.multipliers for layer in report.layers if layer.pe][0] == "dsp"
    # FINN takes the folding file as it is, and its layers then carry those choices
    applied = finn_adapter.apply_folding(synthesizer.hardware, folding)
    for node in finn_adapter.mvau_nodes(applied):
        for attribute in ("PE", "SIMD", "ram_style", "ram_style_thresholds", "resType"):
            assert finn_adapter.layer_attribute(node, attribute) == folding[node.name][attribute], (node.name, attribute)

    from finn.builder.build_dataflow_config import DataflowBuildConfig

    config = DataflowBuildConfig.construct_from(out / "build_config.json")
    assert config.steps == BUILD_STEPS and config.fpga_part == "xc7a15tfgg484-1"
    assert config.synth_clk_period_ns == 10.0 and not config.enable_build_pdb_debug
    assert "finn build build_config.json integer_policy.onnx" in (out / "README.md").read_text()
