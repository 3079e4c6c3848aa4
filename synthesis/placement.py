"""Where a folded design's memories and multipliers go within a device's budget, the greatest LUT savings first.

ROMs go to block RAM (the family's blocks: RAMB18 on 7-series, DP16KD on ECP5, SB_RAM40_4K on iCE40) or logic (yosys maps no ROM to LUTRAM, and a ROM as
logic lets synthesis fold its constant bits); products go to the part's multipliers (DSP48E1, MULT18X18D, SB_MAC16)
until none are left, and the rest are built in LUTs. What is placed here is what the
RTL generator (``synthesis.verilog``) writes and what the hardware model
(``synthesis.model``) prices.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter

from synthesis.choices import PRODUCT_PLACEMENTS
from synthesis.errors import SynthesisInputError
from synthesis.memory import BlockMemory, blocks_for
from synthesis.rtl import FoldedLayer


#: Fewer LUTs than this as logic and a memory stays out of block RAM.
BRAM_MIN_LUTS = 64
#: A ROM deeper than this goes to block RAM first, whatever it saves: abc builds a ROM of 2**a words in logic in
#: about a - 5 LUT levels, and on the calibration grid ROMs of 2,048 and 8,192 words in logic read in 8.6-10.4 ns,
#: over the clock period with routing, where every ROM of at most 1,024 words read within 8.4 ns.
LOGIC_ROM_MAX_WORDS = 1024


def live_bits(words: list[int], width: int) -> int:
    """Bits of a ROM's word that are not the same in every word: what synthesis keeps of a ROM in logic."""
    mask = (1 << width) - 1
    varying = 0
    for word in words:
        varying |= (word ^ words[0]) & mask
    return bin(varying).count("1")


def live_words(words: list[int]) -> int:
    """Words of a ROM other than its most common one: what a ROM in logic must decode (padded rows repeat one word)."""
    return len(words) - max(Counter(words).values())


def logic_luts(varying_bits: int, uncommon_words: int) -> int:
    """About the LUTs a ROM takes as logic: a LUT6 per varying bit per 64 of its words other than the most common."""
    return varying_bits * math.ceil(uncommon_words / 64)


def rom_luts(words: list[int], width: int) -> int:
    """``logic_luts`` of a ROM's words."""
    return logic_luts(live_bits(words, width), live_words(words))


#: How ``place`` may treat weight memories and products: by its rule within the budget ("auto") or forced.
WEIGHT_PLACEMENTS = ("auto", "block", "logic")


def place(
    layers: list[FoldedLayer], memory: BlockMemory, dsps: int, *, weights: str | tuple[str, ...] = "auto",
    products: str = "auto",
) -> list[FoldedLayer]:
    """Memories to block RAM and products to DSPs, the greatest LUT savings first, within the budgets.

    A memory goes to BRAM when it would take at least ``BRAM_MIN_LUTS`` LUTs as logic,
    in order of LUTs saved per block used, while the part's blocks (``memory``) last; the rest
    are logic. Memories deeper than ``LOGIC_ROM_MAX_WORDS`` go first, whatever they save,
    so that each read in logic stays within the clock period. Products (``FoldedLayer.product_units``) fill the part's multipliers one by
    one, those that would cost the most LUTs first (``FoldedLayer.unit_cost``), as Vivado
    infers DSPs until the device has none left; the rest are built in LUTs. A product
    whose weight is zero in every fold is no product, and one by a constant that costs
    no adder (+1, a power of two) is wiring: neither takes a DSP. ``weights`` "block" or "logic" (one for all layers, or one
    per layer) forces weight ROMs there and ``products`` "dsp" or "lut" every product,
    whatever the budget: what a user who fixes the memory or multiplier style gets,
    fitting or not.
    """
    styles = (weights,) * len(layers) if isinstance(weights, str) else tuple(weights)
    if len(styles) != len(layers) or not set(styles) <= set(WEIGHT_PLACEMENTS) or products not in PRODUCT_PLACEMENTS:
        raise SynthesisInputError(
            f"placement weights={weights!r}, products={products!r}: use weights in {WEIGHT_PLACEMENTS} (one, or one per "
            f"layer), products in {PRODUCT_PLACEMENTS}"
        )
    block: set[tuple[int, str]] = set()
    free_blocks = memory.blocks
    candidates = []
    for layer in layers:
        for name, (words, width) in layer.roms.items():
            luts, blocks = rom_luts(words, width), blocks_for(len(words), live_bits(words, width), memory.shapes)
            forced = styles[layer.index] if name == "weight_rom" else "auto"
            if forced == "block":
                block.add((layer.index, name))
                free_blocks -= blocks
            elif forced == "auto" and not layer.read_within_stage(name):
                deep = len(words) > LOGIC_ROM_MAX_WORDS and luts > 0  # a constant ROM is no logic at all
                if deep or luts >= BRAM_MIN_LUTS:
                    candidates.append((deep, luts / blocks, blocks, layer.index, name))
    for _, _, blocks, index, name in sorted(candidates, reverse=True):
        if blocks <= free_blocks:
            block.add((index, name))
            free_blocks -= blocks
    units = [(-layer.unit_cost(unit), layer.index, unit) for layer in layers for unit in range(len(layer.product_units))]
    if products == "auto":  # a product that costs no LUTs saves nothing on a DSP
        units = [candidate for candidate in units if candidate[0] < 0]
    budget = {"dsp": len(units), "lut": 0, "auto": dsps}[products]
    on_dsp = {(index, unit) for _, index, unit in sorted(units)[:budget]}
    return [
        dataclasses.replace(
            layer,
            block_roms=frozenset(name for index, name in block if index == layer.index),
            dsp_units=frozenset(unit for index, unit in on_dsp if index == layer.index),
            weight_placement=styles[layer.index],
        )
        for layer in layers
    ]
