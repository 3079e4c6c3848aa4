"""The open flow on Lattice parts: a small policy's RTL synthesized, placed, routed and packed by yosys, nextpnr and
the family's packer; the figures are nextpnr's own."""

import json
import re

import numpy as np
import pytest

from synthesis import lattice, lower_qonnx, post_synth
from synthesis.errors import SynthesisInputError, ToolFailure
from synthesis.estimate import SynthesisSettings
from synthesis.lattice import packed_utilization, place_and_route
from synthesis.lattice_parts import FAMILIES, PARTS, lattice_part, require
from synthesis.netlist_sim import simulate_netlist, simulates


@pytest.mark.parametrize("name, clock_mhz", [("lfe5u-25f", 100.0), ("ice40up5k", None)])
def test_a_policy_goes_to_a_bitstream_with_the_routers_resources_and_timing(name, clock_mhz, policy_onnx, tmp_path):
    policy = lower_qonnx(policy_onnx(obs_dim=3, act_dim=1, width=8, core_bits=2, input_bits=4, output_bits=8))
    part = require(name)
    layers = post_synth.generate_rtl(policy, [(1, 1)] * len(policy.layers), SynthesisSettings(), tmp_path, part=part)
    placed = place_and_route(tmp_path / "policy.v", part, clock_mhz)

    bitstream = tmp_path / (f"policy-{name}.bit" if part.family == "ecp5" else f"policy-{name}.bin")
    assert placed.bitstream == str(bitstream) and bitstream.stat().st_size > 10_000
    report = json.loads((tmp_path / name / "report.json").read_text())
    used = {cell: figures["used"] for cell, figures in report["utilization"].items()}
    cells = {"ecp5": ("TRELLIS_COMB", "DP16KD", "MULT18X18D", "TRELLIS_IO"),
             "ice40": ("ICESTORM_LC", "ICESTORM_RAM", "ICESTORM_DSP", "SB_IO")}[part.family]  # fmt: skip
    assert (placed.luts, placed.block_rams, placed.dsps, placed.io) == tuple(used.get(cell, 0) for cell in cells)
    assert placed.luts > 0 and placed.ffs > 0
    # the products placed on the part's multipliers are on them, one each
    placed_products = sum(len(layer.dsp_units) for layer in layers)
    assert 0 < placed_products <= part.dsps and placed.dsps == placed_products
    ports = policy.obs_dim * policy.input_bits + policy.action_dim * policy.layers[-1].output_bits + 6  # clk rst valid ready
    assert placed.io == ports == len(placed.pins)
    readme = (tmp_path / name / "README.md").read_text()  # how to put it on a board: every pin to constrain
    assert f"openFPGALoader -b <board> {bitstream.name}" in readme and all(f"| `{port}` |" in readme for port in placed.pins)

    # the figure is the router's: the last (post-route) maximum frequency nextpnr's log states
    log = (tmp_path / name / "nextpnr.log").read_text()
    stated = [float(mhz) for mhz in re.findall(r"Max frequency for clock '[^']+': ([0-9.]+) MHz", log)]
    assert placed.fmax_mhz == pytest.approx(stated[-1], abs=0.01)
    if clock_mhz is None:  # the fastest clock the routed design closes at, by the router's analysis
        assert placed.meets_timing and 12 < placed.target_mhz <= placed.fmax_mhz
    else:
        assert placed.target_mhz == clock_mhz and placed.meets_timing == (placed.fmax_mhz >= clock_mhz)


def test_lattice_parts_are_found_by_short_name_and_an_unknown_one_is_one_line():
    assert lattice_part("LFE5U-25F") is PARTS["LFE5U-25F-6BG381C"] and lattice_part("ice40-up5k").family == "ice40"
    assert lattice_part("xc7a15tfgg484-1") is None
    with pytest.raises(SynthesisInputError, match=r"^unknown Lattice part 'lfe5u-12f'; known: LFE5U-25F-6BG381C \(lfe5u-25f\)"):
        require("lfe5u-12f")


def test_a_design_the_part_has_too_few_cells_for_is_reported_unplaced(policy_onnx, tmp_path):
    """Every product forced onto a multiplier: more than the UP5K's 8 SB_MAC16s, so nextpnr cannot place it; its
    counts come from the utilisation nextpnr logs after packing, with no timing and no bitstream."""
    policy = lower_qonnx(policy_onnx(obs_dim=3, act_dim=1, width=8, core_bits=2, input_bits=4, output_bits=8))
    part = require("ice40up5k")
    folding = [(8, 3), (8, 8), (1, 8)]
    layers = post_synth.generate_rtl(policy, folding, SynthesisSettings(multipliers="dsp", pad_multiple=1), tmp_path,
                                     part=part)  # fmt: skip
    assert sum(len(layer.dsp_units) for layer in layers) > 2 * part.dsps
    placed = place_and_route(tmp_path / "policy.v", part, 12.0)
    assert not placed.routed and not placed.meets_timing and placed.bitstream == "" and placed.fmax_mhz is None
    assert placed.dsps == placed.utilization["ICESTORM_DSP"]["used"] > placed.utilization["ICESTORM_DSP"]["available"] == 8
    assert not (tmp_path / "policy-ice40up5k.bin").exists()


def test_the_utilisation_is_read_from_nextpnrs_log_as_packed():
    log = """Info: Device utilisation:
Info: 	          TRELLIS_IO:      30/    197    15%
Info: 	          MULT18X18D:      36/     28   128%
Info: Placed 30 cells based on constraints.
Info: Device utilisation:
Info: 	          MULT18X18D:      99/     28   353%
"""
    assert packed_utilization(log) == {"TRELLIS_IO": {"used": 30, "available": 197}, "MULT18X18D": {"used": 36, "available": 28}}


def test_a_folded_layers_summed_products_on_sb_mac16s_survive_synthesis(policy_onnx, tmp_path):
    """yosys's ice40_dsp pass took one registered product as another SB_MAC16's input register too and dropped it
    (most actions wrong); the flow leaves the pass out, and the synthesized netlist, simulated with yosys's models of
    the iCE40's cells, agrees with the RTL and the integer forward on every observation, in the same cycles."""
    policy = lower_qonnx(policy_onnx(obs_dim=3, act_dim=1, width=16, core_bits=2, input_bits=4, output_bits=8))
    part = require("ice40up5k")
    layers = post_synth.generate_rtl(policy, [(4, 8), (4, 4), (2, 4)], SynthesisSettings(), tmp_path, part=part)
    assert any(len(layer.dsp_units) > 1 and layer.synapse_folds > 1 for layer in layers)  # summed over folds on MAC16s
    levels = np.random.default_rng(0).integers(-8, 8, size=(200, policy.obs_dim))
    rtl = post_synth.simulate_rtl(policy, tmp_path, levels)
    place_and_route(tmp_path / "policy.v", part, 12.0)
    netlist = simulate_netlist(policy, tmp_path, part, levels)
    assert post_synth.mismatches(policy, rtl, levels) == post_synth.mismatches(policy, netlist, levels) == 0
    assert (netlist.latency_cycles, netlist.initiation_interval) == (rtl.latency_cycles, rtl.initiation_interval)
    assert "ice40_dsp" not in FAMILIES["ice40"].synth and simulates(part) and not simulates(require("lfe5u-25f"))


def test_a_design_the_placer_finds_no_legal_placement_for_is_not_placed(monkeypatch, tmp_path):
    """A part about 90% full packs, and nextpnr's placer gives up on it after minutes: not placed, and said why."""
    folder = tmp_path / "lfe5u-25f"
    folder.mkdir()
    (folder / "nextpnr.log").write_text("Info: Device utilisation:\nInfo: \t        TRELLIS_COMB:   22095/  24288    90%\n")

    def placer_gives_up(tool, command, cwd, log=None):
        raise ToolFailure(tool, "ERROR: Unable to find legal placement for cell 'x' of type 'TRELLIS_COMB' after 139595341 "
                                "attempts, check constraints and utilisation.")  # fmt: skip

    monkeypatch.setattr(lattice, "run_tool", placer_gives_up)
    with pytest.raises(lattice.NotPlaced, match=r"^nextpnr found no legal placement \(TRELLIS_COMB 22,095 of 24,288\)$"):
        lattice._nextpnr(FAMILIES["ecp5"], require("lfe5u-25f"), folder, "lfe5u-25f", [], "nextpnr.log")
