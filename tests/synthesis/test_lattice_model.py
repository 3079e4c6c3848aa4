"""The fast model on Lattice parts: designs priced by their family's fit, against the open flow's figures on designs
held out of the fit, at the clock asked or the fastest each is estimated to close at."""

import gzip
import json
from pathlib import Path

import pytest

from synthesis import lattice_model, lower_qonnx
from synthesis.calibration import held_out
from synthesis.errors import SynthesisInputError
from synthesis.estimate import SynthesisSettings, Synthesizer
from synthesis.lattice_parts import ports, require
from training.export import untrained_policy_onnx

RESULTS = Path(__file__).parents[2] / "docs/results/hardware"
GRID = RESULTS / "lattice/grid-ice40.jsonl.gz"


def _held_out_designs(count: int) -> list[dict]:
    """Of the drawn and of the trained policies' designs: ``count`` each."""
    records = [json.loads(line) for line in gzip.open(GRID, "rt") if line.strip()]
    routed = [record for record in records if held_out(record["name"]) and record["routed"]]
    return [record for record in routed if "policy" in record][:count] + [record for record in routed if "policy" not in record][:count]


def _policy(record: dict, folder: Path):
    if "policy" in record:
        return lower_qonnx(RESULTS / "calibration/trained" / record["policy"])
    shape = [record[key] for key in ("obs", "actions", "width", "core_bits", "input_bits", "output_bits")]
    return lower_qonnx(untrained_policy_onnx(folder / f"{record['name']}.onnx", *shape))


def test_the_estimate_of_a_design_held_out_of_the_fit_is_within_its_error_of_nextpnr(tmp_path):
    """The grid's designs rebuilt and priced by ``dse synth --device ice40up5k``'s path: its LUT4s, FFs and clock
    within the factors the fit measured on designs it was not fitted on, its block RAMs those nextpnr placed."""
    fitted = lattice_model.family_model("ice40")
    settings = SynthesisSettings(lattice="ice40up5k", clock_mhz=None)
    for record in _held_out_designs(2):
        synthesizer = Synthesizer(_policy(record, tmp_path), settings)
        config = {name: {"PE": pe, "SIMD": simd} for name, (pe, simd) in zip(synthesizer.layer_shapes(), record["folding"])}
        report = synthesizer.with_folding(config)
        for figure, estimated, routed in (("luts", report.luts, record["luts"]), ("ffs", report.ffs, record["ffs"]),
                                          ("fmax", report.clock_mhz, record["fmax_mhz"])):  # fmt: skip
            factor = max(estimated / routed, routed / estimated)
            assert factor <= fitted.held_out[figure]["worst_factor"] + 1e-6, (record["name"], figure, estimated, routed)
        assert report.block_rams == record["block_rams"] and report.device == "iCE40UP5K-SG48I"
        assert report.energy_per_action_j is None and report.power_w is None and report.fits


def test_a_design_runs_at_the_clock_asked_or_the_fastest_it_is_estimated_to_close_at(policy_onnx):
    policy = lower_qonnx(policy_onnx(obs_dim=3, act_dim=1, width=16, core_bits=3, input_bits=4, output_bits=4))
    fastest = Synthesizer(policy, SynthesisSettings(lattice="ice40up5k", clock_mhz=None)).at_target(1e5)
    fmax = fastest.clock_mhz
    assert fastest.fits and fmax == pytest.approx(1000 / fastest.critical_path_ns)
    assert fastest.throughput_fps == pytest.approx(fmax * 1e6 / max(layer.cycles for layer in fastest.layers), rel=0.5)
    # a clock asked is kept; one above the estimated maximum is a design that misses timing
    slower = Synthesizer(policy, SynthesisSettings(lattice="ice40up5k", clock_mhz=round(fmax / 2, 1))).at_target(1e5)
    assert slower.clock_mhz == round(fmax / 2, 1) and slower.fits
    assert slower.latency_s == pytest.approx(slower.latency_cycles / (slower.clock_mhz * 1e6))
    faster = Synthesizer(policy, SynthesisSettings(lattice="ice40up5k", clock_mhz=round(fmax * 2))).at_target(1e5)
    assert not faster.fits and any(over.startswith("clock ") for over in faster.over)


def test_a_policy_with_more_ports_than_the_package_has_pins_does_not_fit(policy_onnx):
    policy = lower_qonnx(policy_onnx(obs_dim=4, act_dim=1, width=16, core_bits=2, input_bits=8, output_bits=8))
    assert ports(policy) > require("ice40up5k").io
    report = Synthesizer(policy, SynthesisSettings(lattice="ice40up5k", clock_mhz=None)).at_target(1e4)
    assert not report.fits and f"I/O pin {ports(policy)} > 39" in report.over


def test_a_family_without_a_fit_and_a_clock_left_to_an_xc7_are_one_line(monkeypatch):
    models, digest = lattice_model._models()
    monkeypatch.setattr(lattice_model, "_models", lambda: ({"ice40": models["ice40"]}, digest))
    with pytest.raises(SynthesisInputError, match=r"^the ecp5 family has no fitted model yet \(fitted: ice40\)"):
        SynthesisSettings(lattice="lfe5u-25f", clock_mhz=None).folding_clock_mhz
    with pytest.raises(SynthesisInputError, match=r"^a clock is needed on the XC7"):
        SynthesisSettings(clock_mhz=None)
    with pytest.raises(SynthesisInputError, match=r"^estimator 'finn' has no Lattice model"):
        SynthesisSettings(lattice="ice40up5k", estimator="finn")
    with pytest.raises(SynthesisInputError, match=r"^unknown Lattice part 'ice40hx8k'"):
        SynthesisSettings(lattice="ice40hx8k")


def test_settings_record_a_lattice_part_only_where_one_is_set():
    """An XC7 study's record reads as it did before Lattice parts (a resumed study compares them); a Lattice one
    round-trips."""
    assert "lattice" not in SynthesisSettings().to_dict()
    settings = SynthesisSettings(lattice="ICE40-UP5K", clock_mhz=None)
    assert settings.lattice == "ice40up5k" and SynthesisSettings(**settings.to_dict()) == settings
