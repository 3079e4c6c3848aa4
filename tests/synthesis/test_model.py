"""synthesis.model: the terms a design is priced by, and the properties they must have whatever the coefficients."""

import numpy as np
import pytest

from synthesis import lower_qonnx, model, rtl
from synthesis.lowering import IntegerLayer, IntegerPolicy
from tests.synthesis.conftest import NETWORKS, integer_network


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
    coefficients = model.Coefficients(dict.fromkeys(model.LUT_TERMS, 1.0), dict.fromkeys(model.FF_TERMS, 1.0), "test")
    price = model.price(layers, coefficients)
    assert price.dsps == 32  # synthesized: 32 DSP48E1 (tests/synthesis/test_rtl.py)
    assert price.bram36 == pytest.approx(4.5)  # synthesized: 4.5 BRAM36
    terms = model.features(model.design_record(layers))
    assert price.luts == pytest.approx(sum(terms[term] for term in model.LUT_TERMS))
    assert price.latency_cycles == sum(layer.cycles + layer.output_bits + rtl.PIPELINE_CYCLES for layer in layers)
    assert np.isfinite(price.ffs) and price.interval_cycles <= price.latency_cycles
