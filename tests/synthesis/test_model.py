"""synthesis.model: the terms a design is priced by, the properties they must have, and the published designs it must agree with."""

import numpy as np
import pytest

from synthesis import lower_qonnx, model, rtl
from synthesis.estimate import SynthesisSettings, Synthesizer
from synthesis.lowering import IntegerLayer, IntegerPolicy
from tests.synthesis.conftest import NETWORKS, integer_network

PUBLISHED = model.published_designs()


def counts(policy: IntegerPolicy, folding, pad: int = 32, bram36: int = 25, dsps: int = 45) -> dict[str, float]:
    return model.features(model.design_record(rtl.place(rtl.fold(policy, folding, pad), bram36=bram36, dsps=dsps)))


def test_padded_channels_cost_nothing(policy_onnx):
    policy = lower_qonnx(policy_onnx(obs_dim=5, act_dim=2, width=16, core_bits=2, input_bits=4, output_bits=4))
    padded = counts(policy, [(16, 32), (16, 16), (32, 16)], pad=32)
    unpadded = counts(policy, [(16, 5), (16, 16), (2, 16)], pad=1)
    assert padded == unpadded


def test_a_dead_unit_costs_what_its_absence_costs():
    """A hidden unit whose weights are all zero is removed by synthesis, as if the layer were one narrower."""
    policy = NETWORKS["two-layer"]
    first, second = policy.layers
    weights = first.weights.copy()
    weights[-1] = 0
    dead = IntegerPolicy(policy.input_step, policy.input_bits, (IntegerLayer(weights, first.weight_bits, first.thresholds,
                         first.output_bits, first.output_signed), second), policy.output_step)
    record = model.design_record(rtl.place(rtl.fold(dead, [(24, 32), (8, 24)], 32), bram36=25, dsps=45))
    assert record["layers"][0]["live_rows"] == 23 and record["layers"][0]["live_lanes"] == 23
    assert record["layers"][0]["live_columns"] == 7 and record["layers"][0]["live_simd"] == 7


@pytest.mark.parametrize("layer", [0, 1, 2])
def test_more_pe_never_prices_fewer_luts_or_ffs_with_placement_fixed(layer):
    """With every ROM in logic and every product in LUTs, each term grows (or stays) as a layer's PE doubles."""
    policy = NETWORKS["three-layer"]
    folding = [(1, 4), (1, 4), (1, 4)]
    before = counts(policy, folding, bram36=0, dsps=0)
    for pe in (2, 4, 8, 16):
        folding[layer] = (pe, 4)
        after = counts(policy, folding, bram36=0, dsps=0)
        assert all(after[term] >= before[term] for term in before), (pe, before, after)
        before = after


def test_more_output_bits_never_fewer_threshold_bits():
    previous = None
    for bits in (2, 3, 4, 6, 8):
        policy = integer_network(5, [11, 32, 3], weight_bits=4, input_bits=6, output_bits=[bits, 8])
        terms = counts(policy, [(4, 11), (1, 32)], pad=1, bram36=0, dsps=0)
        threshold_bits = terms["comparator"], terms["rom_logic"], terms["pipeline_registers"]
        if previous is not None:
            assert all(now >= then for now, then in zip(threshold_bits, previous)), (bits, threshold_bits, previous)
        previous = threshold_bits


def test_block_ram_and_dsps_are_priced_exactly_as_placed():
    policy = integer_network(3, [16, 16, 2], weight_bits=4, input_bits=8, output_bits=[4, 8])
    layers = rtl.place(rtl.fold(policy, [(1, 16), (1, 16)], 32), bram36=25, dsps=45)
    calibration = model.Calibration("auto", 9, lut_factor=1.0, lut_per_ff=0.0, ff_factor=1.0, source="test")
    ones = model.HardwareModel(dict.fromkeys(model.LUT_TERMS, 1.0), dict.fromkeys(model.FF_TERMS, 1.0),
                               {"yosys": calibration}, "test", "test")  # fmt: skip
    price = model.price(layers, ones)
    assert price.dsps == 32  # synthesized: 32 DSP48E1 (tests/synthesis/test_rtl.py)
    assert price.bram36 == pytest.approx(4.5)  # synthesized: 4.5 BRAM36
    terms = model.features(model.design_record(layers))
    assert price.luts == pytest.approx(sum(terms[term] for term in model.LUT_TERMS))
    assert price.latency_cycles == sum(layer.cycles + layer.output_bits + rtl.PIPELINE_CYCLES for layer in layers)
    assert np.isfinite(price.ffs) and price.interval_cycles <= price.latency_cycles


@pytest.fixture(scope="module")
def published_sweeps(policy_onnx):
    """Each published shape, untrained (fixed random weights), through the default throughput sweep."""
    sweeps = {}
    for name, design in PUBLISHED.items():
        shape = {key: design[key] for key in ("width", "core_bits", "input_bits", "output_bits")}
        policy = lower_qonnx(policy_onnx(obs_dim=design["obs"], act_dim=design["actions"], **shape))
        sweeps[name] = Synthesizer(policy, SynthesisSettings()).sweep()
    return sweeps


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_the_published_designs_fit_at_about_their_latency_and_resources(published_sweeps, name):
    """Default settings (model, vivado calibration, XC7A15T): the sweep's choice against the published Vivado design."""
    published, (_, chosen) = PUBLISHED[name], published_sweeps[name]
    assert chosen is not None and chosen.fits
    assert 0.5 <= chosen.latency_s * 1e6 / published["latency_us"] <= 2
    assert 1 / 1.5 <= chosen.luts / published["luts"] <= 1.5
    for resource in ("bram36", "dsps"):
        ours, theirs = getattr(chosen, resource), published[resource]
        assert theirs / 2 <= ours <= 2 * theirs or abs(ours - theirs) <= 3, resource  # 2x or 3 units, whichever is larger
    assert 1 / 1.5 <= chosen.power_w / published["power_w"] <= 1.5


def test_forced_placement_or_a_smaller_device_does_not_fit_and_says_which(policy_onnx):
    """Placed by the model, memories stay within the device's BRAM; forced, or with Vivado's every-product-on-a-DSP
    on a part with 10 DSPs, a design is over and the report names the resource with both figures."""
    policy = lower_qonnx(policy_onnx(obs_dim=17, act_dim=6, width=256, core_bits=4, input_bits=8, output_bits=8))
    folding = {name: {"PE": 1, "SIMD": 8} for name in Synthesizer(policy).layer_shapes()}
    assert Synthesizer(policy, SynthesisSettings()).with_folding(folding).fits
    small = Synthesizer(policy, SynthesisSettings(device="xc7s6cpga196-1")).with_folding(folding)
    names = lambda report: [over.split()[0] for over in report.over]  # noqa: E731
    assert not small.fits and "DSP" in names(small) and "BRAM36" not in names(small)
    assert small.over[names(small).index("DSP")].endswith("> 10")
    block = Synthesizer(policy, SynthesisSettings(device="xc7s6cpga196-1", weight_memory="block", multipliers="lut"))
    report = block.with_folding(folding)
    assert "BRAM36" in names(report) and "DSP" not in names(report)
    assert report.over[names(report).index("BRAM36")].endswith("> 5")
    assert all(layer.multipliers == "lut" and layer.weight_memory == "block" for layer in report.layers)
    dsp = Synthesizer(policy, SynthesisSettings(multipliers="dsp")).with_folding({name: {"PE": 8, "SIMD": 8} for name in folding})
    assert "DSP" in names(dsp)


SPARSE = integer_network(7, [9, 40, 40, 4], weight_bits=4, input_bits=6, output_bits=[4, 4, 8])
SPARSE.layers[1].weights[::3] = 0  # a third of the hidden units dead, as training leaves some
SPARSE.layers[0].weights[:, 2] = 0


@pytest.mark.parametrize("settings", [
    SynthesisSettings(), SynthesisSettings(calibration="yosys"), SynthesisSettings(device="xc7s6cpga196-1"),
    SynthesisSettings(weight_memory="block", multipliers="dsp"), SynthesisSettings(weight_memory="distributed", multipliers="lut"),
])  # fmt: skip
@pytest.mark.parametrize("network", ["two-layer", "three-layer", "sparse"])
def test_the_bound_before_training_is_never_above_the_trained_estimate(network, settings):
    policy = SPARSE if network == "sparse" else NETWORKS[network]
    widths = [policy.obs_dim] + [layer.weights.shape[0] for layer in policy.layers]
    rng = np.random.default_rng(0)
    for _ in range(6):
        folding = []
        for index, (columns, rows) in enumerate(zip(widths, widths[1:])):
            rows = -(-rows // 32) * 32 if index == len(widths) - 2 else rows
            columns = -(-columns // 32) * 32 if index == 0 else columns
            folding.append((int(rng.choice([d for d in range(1, rows + 1) if rows % d == 0])),
                            int(rng.choice([d for d in range(1, columns + 1) if columns % d == 0]))))  # fmt: skip
        bound = model.bound(policy, folding, settings)
        _, trained = model.estimate(policy, folding, settings)
        for figure in ("luts", "ffs", "bram36", "dsps"):
            assert getattr(bound, figure) <= getattr(trained, figure) + 1e-9, (figure, folding)
        assert (bound.latency_cycles, bound.interval_cycles, bound.dsps) == (trained.latency_cycles, trained.interval_cycles, trained.dsps)
        assert bound.luts > 0 and bound.ffs > 0


def test_an_estimate_is_the_price_of_what_the_settings_place(policy_onnx):
    """The report's figures are the model's price of the placed design: per layer, styles as placed, exact BRAM and DSPs."""
    policy = lower_qonnx(policy_onnx(obs_dim=11, act_dim=3, width=64, core_bits=4, input_bits=8, output_bits=8))
    for calibration in model.CALIBRATIONS:
        settings = SynthesisSettings(calibration=calibration)
        report = Synthesizer(policy, settings).at_target(1e5)
        folding = [(layer.pe, layer.simd) for layer in report.layers]
        layers, price = model.estimate(policy, folding, settings)
        assert report.luts == sum(round(layer.luts) for layer in price.layers)
        assert (report.bram36, report.dsps) == (price.bram36, price.dsps)
        assert [layer.multipliers == "dsp" for layer in report.layers] == [layer.dsp_products for layer in layers]
        expected = 9 if calibration == "yosys" else 1
        assert all(layer.dsp_products == (calibration == "vivado" or layer.product_bits >= expected) for layer in layers)


def test_the_vivado_calibration_is_named_and_applied_only_when_asked(policy_onnx):
    policy = lower_qonnx(policy_onnx())
    vivado = Synthesizer(policy, SynthesisSettings()).at_target(1e4)
    yosys = Synthesizer(policy, SynthesisSettings(calibration="yosys")).at_target(1e4)
    assert vivado.estimator == "model (vivado)" and yosys.estimator == "model (yosys)"
    assert any("calibration vivado" in note for note in vivado.notes) and any("calibration yosys" in note for note in yosys.notes)
    factors = model.hardware_model().calibrations
    assert factors["yosys"].lut_factor == 1 and factors["yosys"].lut_per_ff == 0 and factors["yosys"].ff_factor == 1
    assert vivado.ffs == pytest.approx(factors["vivado"].ff_factor * yosys.ffs, rel=0.01, abs=3)
