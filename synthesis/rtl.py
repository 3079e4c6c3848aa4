"""A folded integer policy as hardware: its layers, their ROMs and pipeline, and where memories and products go.

A layer of ``MH`` rows and ``MW`` columns folded to ``PE`` rows and ``SIMD`` columns
per cycle runs ``NF * SF`` cycles per action (``NF = MH / PE``, ``SF = MW / SIMD``),
as FINN's MVAU does. ``synthesis.verilog`` writes the layer as RTL; this module holds
what that RTL is made of, so that the model (``synthesis.model``) prices exactly what
is generated:

    counters (nf, sf), registered -> weight ROM word + input slice (read, and registered again)
      -> PE x SIMD products (registered; on DSP48E1s or in LUTs)
      -> per lane, an adder tree of its live products, ``ADDER_LEVELS_PER_STAGE`` levels per register stage
      -> accumulator over SF cycles (at one slice, the tree's last register)
      -> per lane, a binary search of the channel's 2^b - 1 thresholds, one registered stage per output bit
         (at one neuron fold, where the thresholds are constants, two bits per stage)
      -> output shift register

At one fold (``constant_weights``) the weights are constants and the products take the
input vector directly, with no counter or ROM stages.

Every register-to-register path is bounded by construction (one product, two adder
levels, one accumulate, one comparison and a 2:1 select, or one ROM read), whatever
the folding; ``synthesis.timing`` estimates each design's longest path, and on the
calibration grid every one is within the 10 ns of 100 MHz on a -1 Artix-7
(``docs/results/hardware/calibration/``). A layer takes its whole input vector in one handshake, runs its
``NF * SF`` cycles and drains its pipeline before it takes the next, so its latency
and initiation interval are both ``FoldedLayer.latency``; the Verilator simulation
measures them.

Weights and thresholds are constants of the design (initialized ROMs), so synthesis
sees their values: all-zero weight lanes, padded channels and constant threshold
lanes are simplified away by the synthesis tool. A threshold search stage reads one
pair of candidate thresholds per channel (the binary search FINN's RTL thresholding
uses), so a b-bit activation costs b comparisons per lane (and b - 1 selects), not
2^b - 1; constant thresholds take three per two bits.

Where memories and multipliers go within the device's budget is ``synthesis.placement``'s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from synthesis.dataflow import padded
from synthesis.errors import SynthesisInputError
from synthesis.lowering import IntegerPolicy, accumulator_reach, int_range


GENERATOR_VERSION = 3
"""Bumped by every change to the generated RTL; post-synthesis reports are cached against it.
2: products on DSPs as a pool, counters and ROM words registered, registered products, pipelined balanced adder trees,
threshold pairs read a stage ahead, constant thresholds searched two bits per stage.
3: the input slice of a layer whose input vector is wider than ``SLICE_SHIFTER_MAX_BITS`` read in two stages (only those
layers' RTL changed)."""

TOP = "policy"

#: Adder levels between two registers of a lane's tree of SIMD products (two 2-input adders: about 4 ns on a -1 part).
ADDER_LEVELS_PER_STAGE = 2
#: Products or partial sums one register stage of the tree adds.
TREE_GROUP = 2**ADDER_LEVELS_PER_STAGE
#: An input vector of at most this many bits gives its slice (``x[sf * w +: w]``) in one stage: yosys builds a shifter
#: of one 2:1 level per bit of the shift, and shifters of 768 to 1,920 bits missed 10 ns on the calibration grid
#: (10.0-10.6 ns, 6-7 LUT levels) where those of at most 256 bits took at most 8.9 ns.
SLICE_SHIFTER_MAX_BITS = 256


def slice_group(columns: int, simd: int, input_bits: int) -> int:
    """Slices per group of a layer's input slice: 1, one stage (a shifter); above ``SLICE_SHIFTER_MAX_BITS``, a power
    of two near the square root of SF, so that each of two stages chooses among at most about sqrt(SF) * 2 words."""
    synapse_folds = columns // simd
    if synapse_folds == 1 or columns * input_bits <= SLICE_SHIFTER_MAX_BITS:
        return 1
    return 2 ** math.ceil(math.log2(synapse_folds) / 2)


def signed_digits(value: int) -> list[tuple[int, int]]:
    """``value`` in canonical signed digits: (bit, +1 or -1) with no two neighbours nonzero, the fewest nonzero digits.

    A constant product adds one shifted input per digit: at most ceil(b/2) for a b-bit weight.
    """
    digits, bit = [], 0
    while value:
        if value & 1:
            digit = 2 - (value & 3)  # +1 when the next bit is 0, -1 when it is 1 (carrying into it)
            digits.append((bit, digit))
            value -= digit
        value >>= 1
        bit += 1
    return digits


def constant_adders(weight: int) -> int:
    """Adders of a product by the constant ``weight``: one per signed digit beyond the first, and one to negate when every
    digit is negative (-1 is 0 - x)."""
    digits = signed_digits(weight)
    return max(len(digits) - 1, 0) + (bool(digits) and all(digit < 0 for _, digit in digits))


def signed_width(low: int, high: int) -> int:
    """Bits of the two's-complement type that holds every integer in [low, high]."""
    return max(1 + max(low, -low - 1, high, -high - 1).bit_length(), 2)


def tree_levels(products: int) -> int:
    """Adder levels of a binary tree over ``products`` products."""
    return math.ceil(math.log2(products)) if products > 1 else 0


def tree_stages(products: int) -> int:
    """Register stages of a lane's adder tree over ``products`` products."""
    return math.ceil(tree_levels(products) / ADDER_LEVELS_PER_STAGE)


@dataclass(frozen=True)
class FoldedLayer:
    """One layer as hardware: its padded integer matrix, thresholds, folding and placement."""

    index: int
    weights: np.ndarray
    """(MH, MW) int64, padded"""
    thresholds: np.ndarray
    """(MH, 2^output_bits - 1) int64, ascending per row"""
    weight_bits: int
    input_bits: int
    input_signed: bool
    output_bits: int
    output_signed: bool
    pe: int
    simd: int
    block_roms: frozenset[str] = frozenset()
    """names of the ROMs placed in block RAM; the others are logic"""
    dsp_units: frozenset[int] = frozenset()
    """the products (indices of ``product_units``) on DSP48E1s, one each; the others are built in LUTs"""
    weight_placement: str = "auto"
    """where the user forced the weight memory ("block" or "logic"), or "auto": wherever a placement rule puts it"""

    @property
    def rows(self) -> int:
        return self.weights.shape[0]

    @property
    def columns(self) -> int:
        return self.weights.shape[1]

    @property
    def neuron_folds(self) -> int:
        return self.rows // self.pe

    @property
    def synapse_folds(self) -> int:
        return self.columns // self.simd

    @property
    def slice_group(self) -> int:
        """Slices per group of the input slice read in two stages (1: one stage), ``slice_group``."""
        return slice_group(self.columns, self.simd, self.input_bits)

    @property
    def cycles(self) -> int:
        """Cycles per action at full rate: what FINN's estimate counts for this layer."""
        return self.neuron_folds * self.synapse_folds

    @property
    def latency(self) -> int:
        """Cycles from taking an input vector to offering the output vector (also the layer's initiation interval).

        NF * SF cycles of the counters, then one to start, the stages that read the weight word
        (``front_stages``), the product register, the adder tree, the accumulator (none at one
        slice: the tree's last register holds the sum), and the search stages.
        """
        accumulate = 0 if self.synapse_folds == 1 else 1
        return self.cycles + 1 + self.front_stages + 1 + self.tree_depth + accumulate + self.search_stages

    @property
    def front_stages(self) -> int:
        """Register stages before the products: the counters, the weight ROM's read, its second register; none at one fold."""
        return 0 if self.constant_weights else 3

    @property
    def constant_thresholds(self) -> bool:
        """One neuron fold: each lane's thresholds are constants, searched two bits per stage from constant tables."""
        return self.neuron_folds == 1

    @property
    def search_stages(self) -> int:
        """Stages of the threshold search: one per output bit, or one per two bits of constant thresholds."""
        return math.ceil(self.output_bits / 2) if self.constant_thresholds else self.output_bits

    @property
    def search_comparators(self) -> int:
        """Comparators (and 2:1 selects) per lane: a comparator and a select per bit, or three comparators per two bits."""
        if self.constant_thresholds:
            return 3 * (self.output_bits // 2) + self.output_bits % 2
        return 2 * self.output_bits - 1

    @cached_property
    def tree_depth(self) -> int:
        """Register stages of the lanes' adder trees: as many as the lane with the most live products needs."""
        return tree_stages(int(self.live_positions.sum(axis=1).max(initial=0)))

    @property
    def constant_weights(self) -> bool:
        """One fold: each product's weight is a constant of the design, and synthesis folds it into the product."""
        return self.cycles == 1

    @cached_property
    def accumulator_bits(self) -> int:
        """Bits of an accumulator that holds every partial sum and compares with every threshold.

        A partial sum of a row lies within the row's full reach, as every term's range contains 0.
        """
        low, high = accumulator_reach(self.weights, *int_range(self.input_bits, self.input_signed))
        return signed_width(
            int(min(low.min(), self.thresholds.min())), int(max(high.max(), self.thresholds.max()))
        )

    @property
    def product_bits(self) -> int:
        """Bits of one weight-times-input product (an unsigned input gains a sign bit)."""
        return self.weight_bits + self.input_bits + (0 if self.input_signed else 1)

    def unit_cost(self, unit: int) -> int:
        """What one product (of ``product_units``) costs in LUTs, up to a factor: how many a DSP48E1 in its place saves.

        A varying weight: its partial-product bits. A constant: the bits of the adders its signed digits take
        (``constant_adders``); 0 for +1 or a power of two, which a DSP would not save.
        """
        weight = self.product_units[unit][1]
        if weight is None:
            return self.weight_bits * (self.input_bits + (0 if self.input_signed else 1))
        return constant_adders(weight) * self.product_bits

    def folded_weights(self) -> np.ndarray:
        """The weights as (NF, PE, SF, SIMD): fold, lane, slice, position."""
        return self.weights.reshape(self.neuron_folds, self.pe, self.synapse_folds, self.simd)

    @cached_property
    def live_positions(self) -> np.ndarray:
        """(PE, SIMD) bool: the products with a nonzero weight in some fold (the others are constant zero)."""
        return (self.folded_weights() != 0).any(axis=(0, 2))

    @cached_property
    def product_units(self) -> list[tuple[int, int | None, tuple[int, ...]]]:
        """The products synthesis builds: (SIMD position, constant weight or None, the lanes that add it).

        With several folds, one per live (lane, position). At one fold the weights are
        constants, and lanes with the same weight at the same position share one product:
        synthesis would merge them if the RTL did not.
        """
        live = zip(*np.nonzero(self.live_positions))
        if not self.constant_weights:
            return [(int(position), None, (int(lane),)) for lane, position in live]
        weights = self.folded_weights()[0, :, 0, :]
        units: dict[tuple[int, int], list[int]] = {}
        for lane, position in live:
            units.setdefault((int(position), int(weights[lane, position])), []).append(int(lane))
        return [(position, weight, tuple(lanes)) for (position, weight), lanes in sorted(units.items())]

    @cached_property
    def roms(self) -> dict[str, tuple[list[int], int]]:
        """Each ROM of the layer by name: (its words, their width in bits).

        ``weight_rom`` (several folds): word ``nf * SF + sf`` packs the PE x SIMD weights of that fold.
        ``threshold_rom<s>_<lane>``: search stage s of one lane. Stage 0 holds, per neuron
        fold, the channel's middle threshold. Stage s >= 1 is read one stage ahead, at the
        (s-1)-bit prefix j settled so far: each word packs the two thresholds stage s may
        need, ``(4j + 1) * 2^(b-1-s) - 1`` (low half, when bit s-1 is 0) and
        ``(4j + 3) * 2^(b-1-s) - 1`` (high half).
        ``threshold_table<k>_<lane>`` (one neuron fold, ``constant_thresholds``): search stage k
        settles two bits (the last one of an odd count, one); word j, at the 2k-bit prefix j,
        packs the thresholds ``(4j + c) * q - 1`` for c = 1, 2, 3 (q = 2^(b-2-2k)), or the one
        ``(2j + 1) - 1`` for a last single bit. It is read as logic within its stage.
        """
        found = {}
        if not self.constant_weights:  # at one fold the weights are constants of the products, no ROM
            blocks = self.folded_weights().transpose(0, 2, 1, 3).reshape(self.cycles, -1)
            found["weight_rom"] = ([_pack(block, self.weight_bits) for block in blocks], self.pe * self.simd * self.weight_bits)
        acc, bits = self.accumulator_bits, self.output_bits
        if self.constant_thresholds:
            for stage in range(self.search_stages):
                remaining = bits - 2 * stage
                steps = (1, 2, 3) if remaining >= 2 else (1,)
                spread = 2 ** (remaining - 2) if remaining >= 2 else 1
                for lane in range(self.pe):
                    row = self.thresholds[lane]
                    words = [_pack([row[(len(steps) + 1) * j * spread + step * spread - 1] for step in steps], acc)
                             for j in range(2 ** (bits - remaining))]  # fmt: skip
                    found[f"threshold_table{stage}_{lane}"] = (words, len(steps) * acc)
            return found
        for stage in range(bits):
            span = 2 ** (bits - 1 - stage)
            for lane in range(self.pe):
                channel = self.thresholds[lane :: self.pe]
                if stage == 0:
                    words, width = [int(value) for value in channel[:, span - 1]], acc
                else:
                    prefixes = range(2 ** (stage - 1))
                    words = [_pack([row[(4 * j + 1) * span - 1], row[(4 * j + 3) * span - 1]], acc)
                             for row in channel for j in prefixes]  # fmt: skip
                    width = 2 * acc
                found[f"threshold_rom{stage}_{lane}"] = (words, width)
        return found

    def style(self, rom: str) -> str:
        return "block" if rom in self.block_roms else "logic"

    @staticmethod
    def read_within_stage(rom: str) -> bool:
        """A constant-threshold table is read as logic in the stage that compares with it: never block RAM."""
        return rom.startswith("threshold_table")


def fold(policy: IntegerPolicy, folding: list[tuple[int, int]], pad_multiple: int) -> list[FoldedLayer]:
    """The policy's layers, padded as the dataflow is, with (PE, SIMD) per layer."""
    if len(folding) != len(policy.layers):
        raise SynthesisInputError(f"folding gives {len(folding)} layers; the policy has {len(policy.layers)}")
    layers = []
    input_bits, input_signed = policy.input_bits, True
    last = len(policy.layers) - 1
    for index, (layer, (pe, simd)) in enumerate(zip(policy.layers, folding)):
        rows, columns = layer.weights.shape
        rows_padded = padded(rows, pad_multiple) if index == last else rows
        columns_padded = padded(columns, pad_multiple) if index == 0 else columns
        if rows_padded % pe or columns_padded % simd:
            raise SynthesisInputError(
                f"layer {index}: PE {pe} and SIMD {simd} must divide its {rows_padded} rows and {columns_padded} columns"
            )
        weights = np.zeros((rows_padded, columns_padded), dtype=np.int64)
        weights[:rows, :columns] = layer.weights
        # A padded row's accumulator is always 0; thresholds of 1 keep it at the lowest level, as in the dataflow graph.
        thresholds = np.ones((rows_padded, layer.thresholds.shape[1]), dtype=np.int64)
        thresholds[:rows] = layer.thresholds
        layers.append(
            FoldedLayer(
                index=index,
                weights=weights,
                thresholds=thresholds,
                weight_bits=layer.weight_bits,
                input_bits=input_bits,
                input_signed=input_signed,
                output_bits=layer.output_bits,
                output_signed=layer.output_signed,
                pe=pe,
                simd=simd,
            )
        )
        input_bits, input_signed = layer.output_bits, layer.output_signed
    return layers


def _pack(values, width: int) -> int:
    """Little-endian packing of integers into one word, each in ``width`` two's-complement bits."""
    word, mask = 0, (1 << width) - 1
    for position, value in enumerate(values):
        word |= (int(value) & mask) << (position * width)
    return word
