"""synthesis.model and synthesis.features: the terms a design is priced by, the properties they must have, the placement."""

import dataclasses

import numpy as np
import pytest

from synthesis import features, finn_build, lower_qonnx, memory, model, placement, rtl, timing
from synthesis.choices import CALIBRATIONS
from synthesis.estimate import SynthesisSettings, Synthesizer
from synthesis.lowering import IntegerLayer, IntegerPolicy
from tests.synthesis.conftest import NETWORKS, integer_network


def counts(policy: IntegerPolicy, folding, pad: int = 32, bram36: int = 25, dsps: int = 45) -> dict[str, float]:
    layers = placement.place(rtl.fold(policy, folding, pad), memory.BlockMemory.of_bram36(bram36), dsps)
    return features.features(features.design_record(layers))


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
    record = features.design_record(placement.place(rtl.fold(dead, [(24, 32), (8, 24)], 32), memory.BlockMemory.of_bram36(25), dsps=45))
    assert record["layers"][0]["live_rows"] == 23 and record["layers"][0]["live_lanes"] == 23
    assert record["layers"][0]["live_columns"] == 7 and record["layers"][0]["live_simd"] == 7
    # one fold: a product per distinct nonzero weight at each input position, shared by the lanes that have it
    assert record["layers"][0]["live_products"] == len({(column, int(weight)) for row in weights
                                                          for column, weight in enumerate(row) if weight})  # fmt: skip


@pytest.mark.parametrize("layer", [0, 1, 2])
def test_more_pe_never_prices_a_smaller_datapath_with_placement_fixed(layer):
    """With every ROM in logic and every product in LUTs, each datapath term grows (or stays) as a layer's PE doubles.

    Its ROMs may shrink: at one neuron fold a threshold ROM holds one word, a constant synthesis folds away.
    """
    policy = NETWORKS["three-layer"]
    folding = [(1, 4), (1, 4), (1, 4)]
    datapath = [term for term in (*features.LUT_TERMS, *features.FF_TERMS) if term not in ("rom_logic", "rom_registers")]
    before = counts(policy, folding, bram36=0, dsps=0)
    for pe in (2, 4, 8, 16):
        folding[layer] = (pe, 4)
        after = counts(policy, folding, bram36=0, dsps=0)
        assert all(after[term] >= before[term] for term in datapath), (pe, before, after)
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


def test_a_constant_product_costs_one_adder_per_signed_digit_beyond_the_first():
    """One fold: each weight is a constant; +1 and powers of two cost no adder, 3 = 4 - 1 one, -1 = 0 - x one."""
    layer = integer_network(0, [2, 4], weight_bits=3, input_bits=4, output_bits=[2]).layers[0]
    weights = np.array([[0, 1], [2, -4], [3, -1], [-3, 1]])  # two's complement (3 bits): -4 = 100, -1 = 111, -3 = 101
    policy = IntegerPolicy(0.1, 4, (IntegerLayer(weights, 3, layer.thresholds, 2, True),), 0.05)
    placed = placement.place(rtl.fold(policy, [(4, 2)], 1), memory.BlockMemory.of_bram36(0), dsps=0)
    assert placed[0].constant_weights
    products = features.products(placed[0])
    # the two lanes with weight 1 at position 1 share one product: 6 products for 7 nonzero weights
    assert products["live_products"] == 6 and products["lane_products"] == [1, 2, 2, 2]
    # signed digits: 2 = 2, 3 = 4 - 1, -3 = -4 + 1, 1 = 1, -4 = 0 - 4 (negated), -1 = 0 - 1 (negated)
    assert products["constant_product_adders"] == 0 + 1 + 1 + 0 + 1 + 1


@pytest.mark.parametrize("name, folding", [("three-layer", [(2, 8), (4, 4), (4, 16)]), ("three-layer", [(16, 32), (16, 16), (32, 16)])])
def test_products_fill_the_dsps_costliest_first_and_never_a_free_one(name, folding):
    """The pool takes products one by one, those that would cost the most LUTs first; a product zero in every fold, or
    by a constant that costs no adder (+1, a power of two), takes no DSP. Folded and fully unrolled (constant weights)."""
    policy = NETWORKS[name]
    for budget in (0, 5, 12, 45, 1000):
        layers = placement.place(rtl.fold(policy, folding, 32), memory.BlockMemory.of_bram36(25), dsps=budget)
        costs = [(layer.unit_cost(unit), unit in layer.dsp_units) for layer in layers for unit in range(len(layer.product_units))]
        on_dsp = [cost for cost, placed in costs if placed]
        in_luts = [cost for cost, placed in costs if not placed]
        assert len(on_dsp) == min(budget, sum(cost > 0 for cost, _ in costs))
        assert all(cost > 0 for cost in on_dsp) and (not on_dsp or not in_luts or min(on_dsp) >= max(in_luts))
    constant = placement.place(rtl.fold(policy, [(16, 32), (16, 16), (32, 16)], 32), memory.BlockMemory.of_bram36(25), dsps=0)
    assert any(layer.unit_cost(unit) == 0 for layer in constant for unit in range(len(layer.product_units)))


def test_block_ram_and_dsps_are_priced_exactly_as_placed():
    policy = integer_network(3, [16, 16, 2], weight_bits=4, input_bits=8, output_bits=[4, 8])
    layers = placement.place(rtl.fold(policy, [(1, 16), (1, 16)], 32), memory.BlockMemory.of_bram36(25), dsps=45)
    calibration = model.Calibration("rtl", 0.0, 0.0, 1.0, "test")
    ones = model.HardwareModel(dict.fromkeys(features.LUT_TERMS, 1.0), dict.fromkeys(features.FF_TERMS, 1.0),
                               {"yosys": calibration}, "test", "test")  # fmt: skip
    price = model.price(layers, ones)
    assert price.dsps == sum(len(layer.product_units) for layer in layers) == 16 + 16
    assert price.bram36 == sum(memory.ramb18_count(len(words), placement.live_bits(words, width)) for layer in layers
                               for name, (words, width) in layer.roms.items() if name in layer.block_roms) / 2  # fmt: skip
    terms = features.features(features.design_record(layers))
    assert price.luts == pytest.approx(sum(terms[term] for term in features.LUT_TERMS))
    assert price.latency_cycles == sum(layer.latency for layer in layers)
    assert price.interval_cycles == max(layer.latency for layer in layers) <= price.latency_cycles
    assert np.isfinite(price.ffs) and 0 < price.critical_path_ns < 10


def test_a_rom_too_deep_to_read_in_one_cycle_goes_to_block_ram_first():
    """A weight ROM of 8,192 words (a - 5 = 8 LUT levels as logic: over 10 ns) takes block RAM before a shallower
    ROM that would save more LUTs there; with no block RAM left for it the estimate says the design misses timing."""
    policy = integer_network(5, [64, 128, 64], weight_bits=4, input_bits=4, output_bits=[4, 4])
    sparse = policy.layers[1].weights * (np.random.default_rng(0).random((64, 128)) < 0.1)
    policy = dataclasses.replace(policy, layers=(policy.layers[0], dataclasses.replace(policy.layers[1], weights=sparse)))
    folded = rtl.fold(policy, [(8, 8), (1, 1)], 1)
    words, width = folded[1].roms["weight_rom"]
    assert len(words) == 8192 > placement.LOGIC_ROM_MAX_WORDS
    assert placement.rom_luts(words, width) < placement.rom_luts(*folded[0].roms["weight_rom"])
    room = memory.ramb18_count(len(words), placement.live_bits(words, width))
    layers = placement.place(folded, memory.BlockMemory.of_bram36(room / 2), dsps=45)
    assert layers[1].block_roms == {"weight_rom"} and "weight_rom" not in layers[0].block_roms
    assert max(timing.stage_paths(layers).values()) < timing.PERIOD_NS
    in_logic = placement.place(folded, memory.BlockMemory.of_bram36(0), dsps=45)
    assert timing.stage_paths(in_logic)["weight read"] > timing.PERIOD_NS


def test_a_finn_build_lays_out_its_memories_per_pe_and_per_threshold_step():
    """FINN's MVAU: per PE a weight memory of NF * SF words; per PE and step of a hidden layer's thresholds, NF words."""
    policy = integer_network(4, [8, 16, 4], weight_bits=4, input_bits=6, output_bits=[3, 8])
    layers = placement.place(rtl.fold(policy, [(4, 2), (2, 16)], 1), memory.BlockMemory.of_bram36(25), dsps=45)
    found = finn_build.memories(layers)
    hidden, last = [m for m in found if m.layer == 0], [m for m in found if m.layer == 1]
    assert len(hidden) == 4 + 4 * 7 and len(last) == 2  # the last layer keeps only its weights
    assert {(m.depth, m.width) for m in hidden[:4]} == {(4 * 4, 2 * 4)}
    assert {(m.depth, m.width) for m in hidden[4:]} == {(4, layers[0].accumulator_bits)}
    assert finn_build.comparator_bits(layers[0], 4, last=False) == 4 * 7 * layers[0].accumulator_bits
    assert finn_build.comparator_bits(layers[1], 2, last=True) == 0
    built = finn_build.place(found, 2, bram36=25, min_bits=1)
    assert sum(built.logic) == 0 and sum(built.ramb18) == sum(m.ramb18 for m in found)
    assert built.weights == ["block", "block"] and built.thresholds[0] == "block"
    built = finn_build.place(found, 2, bram36=0, min_bits=1)
    assert sum(built.ramb18) == 0 and sum(built.logic) == sum(m.logic_luts for m in found)
    assert built.weights == ["distributed", "distributed"]


def test_forced_placement_or_a_smaller_device_says_which_resource(policy_onnx):
    """Placed by the model, memories and products stay within the device; forced, a design is over and says which."""
    policy = lower_qonnx(policy_onnx(obs_dim=17, act_dim=6, width=256, core_bits=4, input_bits=8, output_bits=8))
    folding = {name: {"PE": 1, "SIMD": 8} for name in Synthesizer(policy).layer_shapes()}
    assert Synthesizer(policy, SynthesisSettings()).with_folding(folding).fits
    names = lambda report: [over.split()[0] for over in report.over]  # noqa: E731
    small = Synthesizer(policy, SynthesisSettings(device="xc7s6cpga196-1")).with_folding(folding)
    assert small.dsps <= 10 and small.bram36 <= 5 and "DSP" not in names(small) and "BRAM36" not in names(small)
    block = Synthesizer(policy, SynthesisSettings(device="xc7s6cpga196-1", weight_memory="block", multipliers="lut"))
    report = block.with_folding(folding)
    assert "BRAM36" in names(report) and report.over[names(report).index("BRAM36")].endswith("> 5")
    assert report.dsps == 0 and all(layer.multipliers == "lut" and layer.weight_memory == "block" for layer in report.layers)
    dsp = Synthesizer(policy, SynthesisSettings(multipliers="dsp")).with_folding({name: {"PE": 8, "SIMD": 8} for name in folding})
    assert "DSP" in names(dsp) and dsp.dsps > 45


def test_an_estimate_is_the_price_of_what_the_settings_place(policy_onnx):
    """The report's figures are the model's price of the placed design: per layer, styles as placed, exact BRAM and DSPs."""
    policy = lower_qonnx(policy_onnx(obs_dim=11, act_dim=3, width=64, core_bits=4, input_bits=8, output_bits=8))
    for calibration in CALIBRATIONS:
        settings = SynthesisSettings(calibration=calibration)
        report = Synthesizer(policy, settings).at_target(1e5)
        folding = [(layer.pe, layer.simd) for layer in report.layers]
        layers, price = model.estimate(policy, folding, settings)
        assert report.luts == sum(round(layer.luts) for layer in price.layers)
        assert (report.bram36, report.dsps, report.latency_cycles) == (price.bram36, price.dsps, price.latency_cycles)
        assert report.throughput_fps == pytest.approx(100e6 / price.interval_cycles)
        assert report.critical_path_ns == price.critical_path_ns
        assert [layer.dsps for layer in report.layers] == [len(layer.dsp_units) for layer in layers]
        assert report.dsps == min(45, sum(len(layer.product_units) for layer in layers))


def test_the_calibration_is_named_and_its_build_applied_only_when_asked(policy_onnx):
    policy = lower_qonnx(policy_onnx())
    vivado = Synthesizer(policy, SynthesisSettings()).at_target(1e4)
    yosys = Synthesizer(policy, SynthesisSettings(calibration="yosys")).at_target(1e4)
    assert vivado.estimator == "model (vivado)" and yosys.estimator == "model (yosys)"
    assert any("calibration vivado" in note for note in vivado.notes) and any("calibration yosys" in note for note in yosys.notes)
    assert all(any("timing estimated" in note for note in report.notes) for report in (vivado, yosys))
    factors = model.hardware_model().calibrations
    assert (factors["yosys"].build, factors["yosys"].stream_luts_per_bit, factors["yosys"].ff_factor) == ("rtl", 0, 1)
    assert factors["vivado"].build == "finn" and factors["vivado"].stream_luts_per_bit > 0
    # the same placement (products, latency), priced as two toolchains build it
    assert (vivado.dsps, vivado.latency_cycles) == (yosys.dsps, yosys.latency_cycles) and vivado.luts != yosys.luts
