"""The hardware model: a folded design priced as synthesis builds it, in well under a second, without synthesis.

``design_record`` describes a placed design (``synthesis.rtl``) as plain data: every
layer's shape, folding and bit widths, and every ROM's depth, width, varying bits and
placement. ``layer_features`` turns such a record into counts that each cost LUTs or
FFs in proportion (bits of ROM in logic, of product, of adder, of comparator, of
input-slice multiplexer, of register), counting only what synthesis keeps. ``price``
weighs them with coefficients fitted on synthesized designs
(``docs/results/hardware/calibration/``, written to ``hardware_model.json``) and a
calibration: "yosys" (this project's RTL as yosys builds it) or "vivado" (a FINN build
as Vivado builds it, fitted to the published designs). ``estimate`` places and prices a
policy at a folding under a study's settings; ``bound`` prices its shape alone, before
training, never above what a trained policy of that shape costs.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from synthesis import devices, rtl
from synthesis.lowering import IntegerLayer, IntegerPolicy

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


def layer_features(record: dict) -> list[dict[str, float]]:
    """Per layer, the counts its LUTs and FFs grow with (see LUT_TERMS, FF_TERMS).

    Only what synthesis keeps counts (``live``): lanes, positions, rows and columns of zero weights cost nothing.

    - rom_logic: varying bits of every ROM not in block RAM, times 64-word LUT columns of its words that differ
      from the most common one
    - product: weight bits times input bits of every product in LUTs
    - adder: each lane's tree of SIMD products (product bits, growing with the tree's depth) and its accumulator
    - comparator: accumulator bits of every threshold comparison (one per lane per output bit)
    - input_mux: input-slice bits times the slices with a live column they choose from, when SF > 1
    - vector_registers: each layer's whole input and output vector
    - pipeline_registers: input slice, accumulators, and each search stage's accumulator copy and prefix
    - rom_registers: the read register of every ROM in logic (block RAM has its own)
    - layers: one per layer (its counters and handshake)
    """
    per_layer = []
    for index, layer in enumerate(record["layers"]):
        counts = dict.fromkeys((*LUT_TERMS, *FF_TERMS), 0.0)
        for rom in record["roms"]:
            if rom["layer"] == index and not rom["block"] and rom["live_words"]:
                counts["rom_logic"] += rom["live_bits"] * math.ceil(rom["live_words"] / 64)
                counts["rom_registers"] += rom["live_bits"]
        lanes, simd, acc = layer["live_lanes"], layer["live_simd"], layer["accumulator_bits"]
        input_bits, output_bits = layer["input_bits"], layer["output_bits"]
        synapse_folds = layer["columns"] // layer["simd"]
        if not layer["dsp_products"]:
            counts["product"] += lanes * simd * layer["weight_bits"] * input_bits
        # a tree of SIMD products, each level a bit wider, then the accumulator
        counts["adder"] += lanes * (simd * (layer["weight_bits"] + input_bits + math.ceil(math.log2(max(simd, 1)))) + acc)
        counts["comparator"] += lanes * output_bits * acc
        if synapse_folds > 1:
            # slices of padding (the trailing columns) are constant zero: only slices with a live column are chosen from
            counts["input_mux"] += simd * input_bits * min(synapse_folds, math.ceil(layer["live_columns"] / layer["simd"]))
        counts["layers"] += 1
        counts["vector_registers"] += layer["live_columns"] * input_bits + layer["live_rows"] * output_bits
        counts["pipeline_registers"] += simd * input_bits + lanes * acc + lanes * output_bits * (acc + output_bits)
        per_layer.append(counts)
    return per_layer


def features(record: dict) -> dict[str, float]:
    """The design's counts: the sum of ``layer_features`` over its layers."""
    total = dict.fromkeys((*LUT_TERMS, *FF_TERMS), 0.0)
    for counts in layer_features(record):
        for term, value in counts.items():
            total[term] += value
    return total


#: the fitted coefficients; ``synthesis.devices`` reads the power coefficients from the same file
MODEL_FILE = devices.HARDWARE_MODEL_FILE
PUBLISHED_FILE = Path(__file__).with_name("published_designs.json")
CALIBRATIONS = ("vivado", "yosys")


def published_designs() -> dict[str, dict]:
    """The published Vivado designs on the XC7A15T by name: shape, bit widths, LUT, FF, BRAM36, DSP, latency, power."""
    return json.loads(PUBLISHED_FILE.read_text())["designs"]


@dataclass(frozen=True)
class Calibration:
    """How a design is built and counted by one toolchain: where its products go, and a factor per count."""

    products: str
    """where products go unless the settings force it: "dsp" (every product on a DSP48E1, fitting or not, as Vivado
    built the published designs) or "auto" (``rtl.place``'s rule: on DSPs while they last, if wide enough)"""
    min_dsp_product_bits: int
    """with "auto", products at least this wide go to DSP48E1s"""
    lut_factor: float
    """LUTs of this toolchain per LUT of the yosys-fitted terms"""
    lut_per_ff: float
    """LUTs of this toolchain per FF of the yosys-fitted terms: a FINN build keeps in LUT-built FIFOs and buffers what
    this RTL keeps in registers"""
    ff_factor: float
    source: str
    """what the factors were fitted on"""


@dataclass(frozen=True)
class HardwareModel:
    """LUTs and FFs per unit of each term, fitted on yosys's cell counts, and the calibrations on top.

    Written by ``docs/results/hardware/calibration/fit.py`` to ``synthesis/hardware_model.json``.
    """

    luts: dict[str, float]
    ffs: dict[str, float]
    calibrations: dict[str, Calibration]
    source: str
    """what the coefficients were fitted on, and their error on designs held out"""
    digest: str
    """sha256 of the file's text: estimates are cached against it"""

    @classmethod
    def load(cls, path: Path = MODEL_FILE) -> HardwareModel:
        text = Path(path).read_text()
        data = json.loads(text)
        calibrations = {name: Calibration(**values) for name, values in data["calibrations"].items()}
        return cls(data["luts"], data["ffs"], calibrations, data["source"], hashlib.sha256(text.encode()).hexdigest()[:16])


@functools.cache
def hardware_model() -> HardwareModel:
    """The committed model, read once per process."""
    return HardwareModel.load()


@dataclass(frozen=True)
class LayerPrice:
    luts: float
    ffs: float
    bram18: int
    dsps: int


@dataclass(frozen=True)
class Price:
    """A placed design priced without synthesis."""

    luts: float
    ffs: float
    bram36: float
    """the ROMs placed in block RAM, each in its best aspect ratio (yosys packs a few RAMB36 fewer where it folds
    constant bits further: docs/results/hardware/published.md)"""
    dsps: int
    """exact: one DSP48E1 per product placed on DSPs"""
    latency_cycles: int
    """exact: the RTL's sum(NF * SF + b + 3)"""
    interval_cycles: int
    layers: tuple[LayerPrice, ...]


def price(layers: list[rtl.FoldedLayer], hardware: HardwareModel, calibration: str = "yosys") -> Price:
    """LUTs and FFs of the fitted terms times the calibration's factors; block RAM, DSPs and cycles as placed."""
    factors = hardware.calibrations[calibration]
    record = design_record(layers)
    priced = []
    for layer, counts in zip(layers, layer_features(record)):
        bram18 = sum(rtl.ramb18_count(rom["depth"], rom["live_bits"]) for rom in record["roms"]
                     if rom["block"] and rom["layer"] == layer.index)  # fmt: skip
        luts = sum(hardware.luts[term] * counts[term] for term in LUT_TERMS)
        ffs = sum(hardware.ffs[term] * counts[term] for term in FF_TERMS)
        priced.append(LayerPrice(
            luts=factors.lut_factor * luts + factors.lut_per_ff * ffs,
            ffs=factors.ff_factor * ffs,
            bram18=bram18,
            dsps=layer.pe * layer.simd if layer.dsp_products else 0,
        ))  # fmt: skip
    per_layer = [layer.cycles + layer.output_bits + rtl.PIPELINE_CYCLES for layer in layers]
    return Price(
        luts=sum(layer.luts for layer in priced),
        ffs=sum(layer.ffs for layer in priced),
        bram36=sum(layer.bram18 for layer in priced) / 2,
        dsps=sum(layer.dsps for layer in priced),
        latency_cycles=sum(per_layer),
        interval_cycles=max(per_layer),
        layers=tuple(priced),
    )


def placed(
    policy: IntegerPolicy, folding: list[tuple[int, int]], settings, calibration: str | None = None, weight_styles=None
) -> list[rtl.FoldedLayer]:
    """``policy`` folded and placed as ``settings`` (a ``synthesis.estimate.SynthesisSettings``) and the toolchain build it.

    ``calibration`` "yosys" places products as this project's RTL does (what ``dse synth --post-synth`` builds);
    "vivado" as Vivado does (every product on a DSP48E1, as the published designs have them, so a folding with
    more products than the device has DSPs does not fit, as it did not in the published throughput sweeps).
    ``weight_styles``: per layer, FINN's ``ram_style`` of a folding file ("block", "distributed" or "auto"), which
    overrides the settings' weight memory for that layer.
    """
    toolchain = hardware_model().calibrations[calibration or settings.calibration]
    part = settings.part
    return rtl.place(
        rtl.fold(policy, folding, settings.pad_multiple), part.bram36, part.dsps,
        weights=tuple(WEIGHT_PLACEMENT[style if style in ("block", "distributed") else settings.weight_memory]
                      for style in (weight_styles or ["auto"] * len(folding))),
        products=toolchain.products if settings.multipliers == "auto" else settings.multipliers,
        min_dsp_product_bits=toolchain.min_dsp_product_bits,
    )  # fmt: skip


#: ``SynthesisSettings.weight_memory`` (FINN's names) as ``rtl.place`` takes it
WEIGHT_PLACEMENT = {"cheaper": "auto", "block": "block", "distributed": "logic"}


def estimate(
    policy: IntegerPolicy, folding: list[tuple[int, int]], settings, weight_styles=None
) -> tuple[list[rtl.FoldedLayer], Price]:
    """The placed layers of ``policy`` at ``folding`` and their price under ``settings.calibration``."""
    layers = placed(policy, folding, settings, weight_styles=weight_styles)
    return layers, price(layers, hardware_model(), settings.calibration)


def without_weights(policy: IntegerPolicy) -> IntegerPolicy:
    """``policy``'s shape and bit widths with every weight zero: the design no trained policy of that shape undercuts."""
    layers = tuple(
        IntegerLayer(np.zeros_like(layer.weights), layer.weight_bits, np.ones_like(layer.thresholds), layer.output_bits,
                     layer.output_signed)
        for layer in policy.layers
    )  # fmt: skip
    return IntegerPolicy(policy.input_step, policy.input_bits, layers, policy.output_step)


def bound(policy: IntegerPolicy, folding: list[tuple[int, int]], settings) -> Price:
    """A price no policy of ``policy``'s shape and bits can go below at ``folding``: known before training.

    Trained weights only remove cost (zero rows, columns and lanes are removed; constant
    ROM bits fold away), and every term of the model grows with what is live, so the price
    of the all-zero network bounds every trained policy's from below. DSPs, latency and
    interval are those of any policy of the shape (placement of products depends on shapes
    only); LUTs and FFs keep the per-layer control; block RAM of forced weight memories
    keeps its words but no bits, so it is 0. Only ``policy``'s shape is used.
    """
    return estimate(without_weights(policy), folding, settings)[1]
