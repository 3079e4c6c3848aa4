"""dse synth --post-synth on a Lattice part: the design placed within the part, simulated, placed and routed, packed
into a bitstream, and reported with nextpnr's own figures."""

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from dse.cli import main
from synthesis import lattice_model, lattice_parts, lower_qonnx
from synthesis.errors import SynthesisInputError
from synthesis.estimate import SynthesisSettings, Synthesizer
from synthesis.lattice_parts import ports
from synthesis.post_route import check_pins


def test_a_trained_policy_goes_to_an_ice40_bitstream_at_the_clock_it_closes_at(qat_run, tmp_path, capsys, monkeypatch):
    run = shutil.copytree(qat_run.run_dir, tmp_path / "run")
    command = ["synth", str(run), "--post-synth", "--device", "ice40-up5k", "--target-fps", "1e5", "--observations", "100"]
    assert main(command) == 0
    out = capsys.readouterr().out
    record = json.loads((run / "post_route-ice40up5k.json").read_text())
    chosen = record["chosen"]
    assert chosen["device"] == "iCE40UP5K-SG48I" and "<- chosen" in out and "100/100" in out
    assert chosen["bit_exact"] and chosen["fits"] and chosen["meets_timing"] and chosen["energy_per_action_j"] is None
    assert chosen["netlist_mismatches"] == 0 and "netlist 100/100" in out  # the synthesized netlist, simulated
    assert Path(chosen["bitstream"]).stat().st_size > 10_000 and Path(chosen["rtl_dir"]).parent == run / "rtl-ice40up5k"
    assert "see `ice40up5k/README.md`" in (Path(chosen["rtl_dir"]) / "README.md").read_text()
    # the figures are nextpnr's, of the routed design; latency and throughput are the simulated cycles at its clock
    routed = json.loads((Path(chosen["rtl_dir"]) / "ice40up5k" / "report.json").read_text())["utilization"]
    assert (chosen["luts"], chosen["block_rams"], chosen["dsps"], chosen["io"]) == tuple(
        routed.get(cell, {"used": 0})["used"] for cell in ("ICESTORM_LC", "ICESTORM_RAM", "ICESTORM_DSP", "SB_IO"))
    assert 12 < chosen["clock_mhz"] <= chosen["fmax_mhz"]
    assert chosen["latency_s"] == pytest.approx(chosen["latency_cycles"] / (chosen["clock_mhz"] * 1e6))
    assert chosen["throughput_fps"] == pytest.approx(chosen["clock_mhz"] * 1e6 / chosen["initiation_interval"])
    # the family's fitted model on this trained policy, which its grid does not hold: within the worst factor of any
    # design of the grid, held out of the fit or fitted on
    settings = SynthesisSettings(lattice="ice40up5k", clock_mhz=None)
    estimate = Synthesizer(lower_qonnx(run / "policy.onnx"), settings).at_target(1e5)
    assert [[layer.pe, layer.simd] for layer in estimate.layers if layer.pe] == chosen["folding"]
    checked = lattice_model.family_model("ice40").held_out
    for figure, estimated, routed in (("luts", estimate.luts, chosen["luts"]), ("ffs", estimate.ffs, chosen["ffs"]),
                                      ("fmax", estimate.clock_mhz, chosen["fmax_mhz"])):  # fmt: skip
        worst = max(checked[figure]["worst_factor"], checked[f"{figure}_fitted_on"]["worst_factor"])
        assert max(estimated / routed, routed / estimated) <= worst, (figure, estimated, routed)

    def no_tools(*args):
        raise AssertionError("the cached report should have been read")

    monkeypatch.setattr("synthesis.post_route.place_and_route", no_tools)
    assert main(command) == 0
    assert json.loads((run / "post_route-ice40up5k.json").read_text())["chosen"] == chosen


def test_without_post_synth_a_lattice_part_is_priced_by_its_familys_model(qat_run, tmp_path, capsys):
    run = shutil.copytree(qat_run.run_dir, tmp_path / "run")
    assert main(["synth", str(run), "--device", "ice40up5k"]) == 0
    out = capsys.readouterr().out
    record = json.loads((run / "synth-ice40up5k.json").read_text())
    assert record["settings"]["lattice"] == "ice40up5k" and record["settings"]["clock_mhz"] is None
    chosen = record["chosen"]
    assert chosen["device"] == "iCE40UP5K-SG48I" and chosen["energy_per_action_j"] is None and "not estimated" in out
    assert chosen["estimator"] == "lattice model (ice40)" and chosen["block_rams"] is not None
    assert chosen["clock_mhz"] == pytest.approx(1000 / chosen["critical_path_ns"])  # the fastest it closes at
    assert not (run / "synth.json").exists() and not (run / "folding.json").exists()  # the XC7's are its own
    assert main(["export", str(run), "--device", "ice40up5k", "--finn", str(tmp_path / "finn")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "dse export writes a FINN build for Vivado, which has no Lattice parts" in err


def test_a_policy_with_more_ports_than_the_package_has_pins_is_refused_in_one_line(qat_run):
    policy = lower_qonnx(qat_run.run_dir / "policy.onnx")
    part = dataclasses.replace(lattice_parts.require("ice40up5k"), io=ports(policy) - 1)
    with pytest.raises(SynthesisInputError, match=rf"^the policy's {ports(policy)} ports .* exceed the {part.io} I/O pins"):
        check_pins(policy, part)
    check_pins(policy, dataclasses.replace(part, io=ports(policy)))
