"""What the generated RTL is made of, counted per design: the terms a fast hardware model prices.

``design_record`` describes a placed design (``synthesis.rtl``) as plain data: every
layer's shape, folding and bit widths, and every ROM's depth, width, varying bits and
placement. ``features`` turns such a record into counts that each cost LUTs or FFs
in proportion (bits of ROM in logic, of product, of adder, of comparator, of
input-slice multiplexer, of register). A model fitted on synthesized designs
(``docs/results/hardware/calibration/``) prices a design from these counts in
microseconds, without synthesis.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from synthesis import rtl

#: LUT terms, then FF terms, in the order ``features`` gives them
LUT_TERMS = ("rom_logic", "product", "adder", "comparator", "input_mux", "layers")
FF_TERMS = ("vector_registers", "pipeline_registers", "rom_registers", "layers")


def live(layer: rtl.FoldedLayer) -> dict[str, int]:
    """What of a layer synthesis keeps: rows and columns with a nonzero weight, and the PE lanes and SIMD positions they use.

    A row of zero weights has a constant output and a column of zero weights feeds
    nothing, whether they are padding or a trained policy's dead units; synthesis
    removes their registers, products and comparators alike.
    """
    nonzero = layer.weights != 0
    rows, columns = nonzero.any(axis=1), nonzero.any(axis=0)
    return {
        "live_rows": int(rows.sum()),
        "live_columns": int(columns.sum()),
        "live_lanes": int(rows.reshape(-1, layer.pe).any(axis=0).sum()),
        "live_simd": int(columns.reshape(-1, layer.simd).any(axis=0).sum()),
    }


def live_words(words: list[int]) -> int:
    """Words of a ROM other than its most common one: what a ROM in logic must decode (padded rows repeat one word)."""
    return len(words) - max(Counter(words).values())


def design_record(layers: list[rtl.FoldedLayer]) -> dict:
    """The placed design as plain data (JSON-ready): its layers and its ROMs."""
    return {
        "layers": [
            {"rows": layer.rows, "columns": layer.columns, "pe": layer.pe, "simd": layer.simd, "cycles": layer.cycles,
             "weight_bits": layer.weight_bits, "input_bits": layer.input_bits, "input_signed": layer.input_signed,
             "output_bits": layer.output_bits, "accumulator_bits": layer.accumulator_bits,
             "dsp_products": layer.dsp_products, "nonzero_weights": int((layer.weights != 0).sum()), **live(layer)}
            for layer in layers
        ],
        "roms": [
            {"layer": layer.index, "name": name, "depth": len(words), "width": width,
             "live_bits": rtl.live_bits(words, width), "live_words": live_words(words), "block": name in layer.block_roms}
            for layer in layers
            for name, (words, width) in layer.roms.items()
        ],
    }  # fmt: skip


def features(record: dict) -> dict[str, float]:
    """The counts a design's LUTs and FFs grow with (see LUT_TERMS, FF_TERMS).

    - rom_logic: varying bits of every ROM not in block RAM, times 64-word LUT columns of its words that differ
      from the most common one
    Only what synthesis keeps counts (``live``): lanes, positions, rows and columns of zero weights cost nothing.

    - product: weight bits times input bits of every product in LUTs
    - adder: each lane's tree of SIMD products (product bits, growing with the tree's depth) and its accumulator
    - comparator: accumulator bits of every threshold comparison (one per lane per output bit)
    - input_mux: input-slice bits times the slices they choose from (SF), when SF > 1
    - vector_registers: each layer's whole input and output vector
    - pipeline_registers: input slice, accumulators, and each search stage's accumulator copy and prefix
    - rom_registers: the read register of every ROM in logic (block RAM has its own)
    """
    counts = dict.fromkeys((*LUT_TERMS, *FF_TERMS), 0.0)
    for rom in record["roms"]:
        if not rom["block"] and rom["live_words"]:
            counts["rom_logic"] += rom["live_bits"] * math.ceil(rom["live_words"] / 64)
            counts["rom_registers"] += rom["live_bits"]
    for layer in record["layers"]:
        lanes, simd, acc = layer["live_lanes"], layer["live_simd"], layer["accumulator_bits"]
        input_bits, output_bits = layer["input_bits"], layer["output_bits"]
        synapse_folds = layer["columns"] // layer["simd"]
        if not layer["dsp_products"]:
            counts["product"] += lanes * simd * layer["weight_bits"] * input_bits
        # a tree of SIMD products, each level a bit wider, then the accumulator
        counts["adder"] += lanes * (simd * (layer["weight_bits"] + input_bits + math.ceil(math.log2(simd))) + acc)
        counts["comparator"] += lanes * output_bits * acc
        if synapse_folds > 1:
            counts["input_mux"] += simd * input_bits * synapse_folds
        counts["layers"] += 1
        counts["vector_registers"] += layer["live_columns"] * input_bits + layer["live_rows"] * output_bits
        counts["pipeline_registers"] += simd * input_bits + lanes * acc + lanes * output_bits * (acc + output_bits)
    return counts


COEFFICIENTS_FILE = Path(__file__).with_name("hardware_model.json")


@dataclass(frozen=True)
class Coefficients:
    """LUTs and FFs per unit of each term, fitted on synthesized designs (docs/results/hardware/calibration/fit.py)."""

    luts: dict[str, float]
    ffs: dict[str, float]
    source: str
    """what they were fitted on, and their error on designs held out"""

    @classmethod
    def load(cls, path: Path = COEFFICIENTS_FILE) -> Coefficients:
        data = json.loads(Path(path).read_text())
        return cls(data["luts"], data["ffs"], data["source"])


@dataclass(frozen=True)
class Price:
    """A placed design priced without synthesis."""

    luts: float
    ffs: float
    bram36: float
    """exact: the ROMs the generator placed in block RAM, each in its best aspect ratio"""
    dsps: int
    """exact: one DSP48E1 per product the generator placed on DSPs"""
    latency_cycles: int
    """exact: the RTL's sum(NF * SF + b + 3)"""
    interval_cycles: int


def price(layers: list[rtl.FoldedLayer], coefficients: Coefficients) -> Price:
    record = design_record(layers)
    counts = features(record)
    per_layer = [layer.cycles + layer.output_bits + rtl.PIPELINE_CYCLES for layer in layers]
    return Price(
        luts=sum(coefficients.luts[term] * counts[term] for term in LUT_TERMS),
        ffs=sum(coefficients.ffs[term] * counts[term] for term in FF_TERMS),
        bram36=sum(rtl.ramb18_count(rom["depth"], rom["live_bits"]) for rom in record["roms"] if rom["block"]) / 2,
        dsps=sum(layer.pe * layer.simd for layer in layers if layer.dsp_products),
        latency_cycles=sum(per_layer),
        interval_cycles=max(per_layer),
    )
