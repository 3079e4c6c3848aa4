"""The committed hardware model against what it was not fitted on: the grid's held-out designs and the published designs.

The grid (``docs/results/hardware/calibration/grid.jsonl.gz``) holds yosys's counts of
designs this model never saw (every fourth, by name); the published designs are each
predicted by a vivado calibration fitted on the six others. The bounds are those of issue
27 and of the grid before it; ``test_the_bounds_catch_a_model_30_percent_off`` shows they
are tight enough to fail a model whose coefficients are 1.3x off.
"""

import gzip
import json
from pathlib import Path

import pytest

from synthesis import calibration, lower_qonnx, model, rtl, timing
from synthesis.estimate import SynthesisSettings, Synthesizer

GRID = Path(__file__).parents[2] / "docs/results/hardware/calibration/grid.jsonl.gz"
#: per regime: (fewest held-out designs, LUT and FF median factor, worst factor) no committed model may exceed
BOUNDS = {
    "fast (unrolled included)": (10, 1.3, 2.0),
    "slow folded": (10, 1.15, 2.5),
    "all": (30, 1.2, 2.5),
}
#: the held-out median estimate/truth must also lie within this factor of 1: a biased model fails even if tight
BIAS = 1.15


@pytest.fixture(scope="module")
def held_out_records() -> list[dict]:
    records = [json.loads(line) for line in gzip.open(GRID, "rt")]
    return [record for record in records
            if record.get("generator") == rtl.GENERATOR_VERSION and "luts" in record and calibration.held_out(record["name"])]  # fmt: skip


def violations(records: list[dict], luts: dict, ffs: dict) -> list[str]:
    """Each bound of ``BOUNDS`` and ``BIAS`` the coefficients break on the held-out records."""
    found = []
    errors = calibration.grid_errors(records, luts, ffs)
    for regime, (designs, median, worst) in BOUNDS.items():
        for target in ("luts", "ffs"):
            figures = errors.get(regime, {}).get(target)
            if figures is None or figures["designs"] < designs:
                found.append(f"{regime} {target}: {figures and figures['designs']} held-out designs, fewer than {designs}")
                continue
            if figures["median_factor"] > median or figures["worst_factor"] > worst:
                found.append(f"{regime} {target}: median {figures['median_factor']:.2f} (> {median}?), worst "
                             f"{figures['worst_factor']:.2f} (> {worst}?) on {figures['worst_design']}")  # fmt: skip
            if not 1 / BIAS <= figures["median_ratio"] <= BIAS:
                found.append(f"{regime} {target}: median estimate/yosys {figures['median_ratio']:.2f}")
    return found


def test_held_out_designs_are_priced_within_the_bounds_of_each_regime(held_out_records):
    hardware = model.hardware_model()
    assert violations(held_out_records, hardware.luts, hardware.ffs) == []


@pytest.mark.parametrize("target", ["luts", "ffs"])
def test_the_bounds_catch_a_model_30_percent_off(held_out_records, target):
    hardware = model.hardware_model()
    scaled = {term: 1.3 * value for term, value in getattr(hardware, target).items()}
    coefficients = {"luts": hardware.luts, "ffs": hardware.ffs} | {target: scaled}
    assert violations(held_out_records, coefficients["luts"], coefficients["ffs"]) != []


def test_every_synthesized_grid_design_meets_the_clock():
    """Timing by construction: no stage of the RTL is deeper than its bound, so every design of the grid, slow and fast,
    placed as the model places it, meets 100 MHz in the static timing analysis of yosys's netlist."""
    records = [json.loads(line) for line in gzip.open(GRID, "rt")]
    paths = {record["name"]: record["critical_path_ns"] for record in records
             if record.get("generator") == rtl.GENERATOR_VERSION and "luts" in record}  # fmt: skip
    assert len(paths) >= 150
    assert {name: path for name, path in paths.items() if path > timing.PERIOD_NS} == {}


@pytest.fixture(scope="module")
def published_layers(policy_onnx) -> dict[str, list[rtl.FoldedLayer]]:
    """Each published shape, untrained (seed 0), at the folding of its published latency, placed."""
    policies = {name: lower_qonnx(policy_onnx(obs_dim=design["obs"], act_dim=design["actions"], width=design["width"],
                                              core_bits=design["core_bits"], input_bits=design["input_bits"],
                                              output_bits=design["output_bits"]))
                for name, design in calibration.PUBLISHED.items()}  # fmt: skip
    return calibration.published_layers(policies)


@pytest.mark.parametrize("name", list(calibration.PUBLISHED))
def test_each_published_design_is_predicted_by_a_fit_without_it(published_layers, name):
    """Leave one out: the vivado calibration and the power model fitted on the six other designs."""
    hardware = model.hardware_model()
    others = [other for other in calibration.PUBLISHED if other != name]
    vivado = model.Calibration(**calibration.vivado_fit(others, published_layers, hardware.luts, hardware.ffs), source="")
    left_out = model.HardwareModel(hardware.luts, hardware.ffs, {"vivado": vivado}, "", "")
    price = model.price(published_layers[name], left_out, "vivado", calibration.PART.bram36)
    published = calibration.PUBLISHED[name]
    assert 1 / 1.5 <= price.luts / published["luts"] <= 1.5
    assert 1 / 1.5 <= price.ffs / published["ffs"] <= 1.5
    assert price.latency_cycles / 100 == pytest.approx(published["latency_us"], rel=0.1)
    assert price.luts <= calibration.PART.luts and price.bram36 <= calibration.PART.bram36 and price.dsps <= calibration.PART.dsps
    assert price.bram36 == pytest.approx(published["bram36"], abs=3)
    power = calibration.power_of({"luts": price.luts, "ffs": price.ffs}, calibration.power_fit(others))
    assert 1 / 1.2 <= power / published["power_w"] <= 1.2


def test_a_small_networks_fast_folding_is_chosen(policy_onnx):
    """Walker2d's 17-16-6 at a 2-bit core and 4-bit input: products beyond the 45 DSPs go to LUTs, the fast design fits."""
    policy = lower_qonnx(policy_onnx(obs_dim=17, act_dim=6, width=16, core_bits=2, input_bits=4, output_bits=8))
    for settings in (SynthesisSettings(), SynthesisSettings(calibration="yosys")):
        _, chosen = Synthesizer(policy, settings).sweep()
        assert chosen.fits and chosen.latency_s < 1e-6 and chosen.dsps <= 45, (settings.calibration, chosen.over)


@pytest.fixture(scope="module")
def published_sweeps(policy_onnx):
    """Each published shape, untrained (seed 0), through the default throughput sweep."""
    sweeps = {}
    for name, design in calibration.PUBLISHED.items():
        shape = {key: design[key] for key in ("width", "core_bits", "input_bits", "output_bits")}
        policy = lower_qonnx(policy_onnx(obs_dim=design["obs"], act_dim=design["actions"], **shape))
        sweeps[name] = Synthesizer(policy, SynthesisSettings()).sweep()
    return sweeps


#: the paper's reference design (docs/hardware.md): width 256, 4-bit core, 8-bit input and output (on each published task)
REFERENCE = [name for name, design in calibration.PUBLISHED.items()
             if (design["width"], design["core_bits"], design["input_bits"], design["output_bits"]) == (256, 4, 8, 8)]  # fmt: skip


@pytest.mark.parametrize("name", list(calibration.PUBLISHED))
def test_the_published_sweeps_stop_where_the_device_runs_out(published_sweeps, name):
    """Default settings (model, vivado calibration, XC7A15T): the sweep's choice against the published Vivado design.

    Every sweep fits at the published latency or faster; the reference designs' sweeps stop exactly where the
    published ones did, at their published resources and power, and what stops them is the next design's LUTs.
    """
    published, (reports, chosen) = calibration.PUBLISHED[name], published_sweeps[name]
    assert chosen is not None and chosen.fits and chosen.dsps <= 45
    assert chosen.latency_s * 1e6 <= 1.1 * published["latency_us"]
    if name not in REFERENCE:
        return
    assert chosen.latency_s * 1e6 == pytest.approx(published["latency_us"], rel=0.1)
    assert 1 / 1.5 <= chosen.luts / published["luts"] <= 1.5 and 1 / 1.5 <= chosen.ffs / published["ffs"] <= 1.5
    assert chosen.bram36 == pytest.approx(published["bram36"], abs=3) and abs(chosen.dsps - published["dsps"]) <= 3
    assert 1 / 1.2 <= chosen.power_w / published["power_w"] <= 1.2
    following = reports[reports.index(chosen) + 1]
    assert following.target_fps == 10 * chosen.target_fps and following.over[0].startswith("LUT")
