"""The hardware model: a folded design priced as synthesis builds it, in well under a second, without synthesis.

A design is placed as ``synthesis.placement`` places it (memories in block RAM or logic,
products on the device's DSP48E1s until none are left, the rest in LUTs) and described
by ``synthesis.features``: counts that each cost LUTs or FFs in proportion. ``price``
weighs them with coefficients fitted on synthesized designs
(``docs/results/hardware/calibration/``, written to ``hardware_model.json``) under a
calibration: "yosys" (this project's RTL as yosys builds it: what ``dse synth
--post-synth`` builds) or "vivado" (a FINN build as Vivado builds it, fitted to the
published designs: ``synthesis.finn_build``). Block RAM and DSPs are counted as placed;
latency and interval are the RTL's own (checked by Verilator); the longest path is
estimated from the RTL's stages (``synthesis.timing``). ``estimate`` places and prices a
policy at a folding under a study's settings.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from synthesis import devices, finn_build, memory, placement, rtl, timing
from synthesis.features import FF_TERMS, LUT_TERMS, design_record
from synthesis.features import layer_features as layer_counts_of
from synthesis.lowering import IntegerPolicy

#: the fitted coefficients; ``synthesis.devices`` reads the power coefficients from the same file
MODEL_FILE = devices.HARDWARE_MODEL_FILE
PUBLISHED_FILE = Path(__file__).with_name("published_designs.json")


def published_designs() -> dict[str, dict]:
    """The published Vivado designs on the XC7A15T by name: shape, bit widths, LUT, FF, BRAM36, DSP, latency, power."""
    return json.loads(PUBLISHED_FILE.read_text())["designs"]


@dataclass(frozen=True)
class Calibration:
    """How one toolchain builds a design, on top of the yosys-fitted terms."""

    build: str
    """"rtl": this project's RTL (its ROMs and search comparators); "finn": a FINN build (``synthesis.finn_build``)"""
    stream_luts_per_bit: float
    """LUTs per bit of the stream buffers a FINN build keeps in LUTs (0 for this RTL, which keeps them in registers)"""
    bram_min_bits: float
    """a FINN build's memories of at least this many bits go to block RAM while it lasts (this RTL's: ``placement.place``)"""
    ff_factor: float
    """FFs of this toolchain per FF of the yosys-fitted terms"""
    source: str
    """what the factors were fitted on, and their error on designs held out"""


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
    weight_memory: str
    """"block" or "distributed": where the calibration's toolchain puts most of the layer's weight bits"""
    threshold_memory: str
    """the same for its threshold bits"""


@dataclass(frozen=True)
class Price:
    """A placed design priced without synthesis."""

    luts: float
    ffs: float
    bram36: float
    """the memories placed in block RAM, each in its best aspect ratio"""
    dsps: int
    """exact: one DSP48E1 per product placed on DSPs"""
    latency_cycles: int
    """exact: the RTL's sum of ``FoldedLayer.latency``, which the Verilator simulation measures"""
    interval_cycles: int
    """exact: the slowest layer's ``FoldedLayer.latency`` (a layer drains before it takes the next input)"""
    critical_path_ns: float
    """the longest register-to-register path of the RTL, estimated from its stages (``timing.stage_paths``)"""
    layers: tuple[LayerPrice, ...]


@dataclass(frozen=True)
class Build:
    """A placed design as one toolchain builds it: per layer, what it is priced by."""

    counts: list[dict[str, float]]
    """the terms of ``synthesis.features``, as this toolchain has them"""
    ramb18: list[int]
    stream_bits: list[float]
    """bits of the stream buffers a FINN build keeps in LUTs (none in this RTL)"""
    weight_memory: list[str]
    """"block" or "distributed": where most of the layer's weight bits are"""
    threshold_memory: list[str]


def build(layers: list[rtl.FoldedLayer], calibration: Calibration, bram36: int) -> Build:
    """The design as the calibration's toolchain builds it: this RTL as placed, or a FINN build placed within ``bram36``."""
    record = design_record(layers)
    if calibration.build == "rtl":
        counts = layer_counts_of(record)
        styles = [rtl_styles(layer) for layer in layers]
        return Build(counts, block_counts(record, layers), [0.0] * len(layers), [weights for weights, _ in styles],
                     [thresholds for _, thresholds in styles])  # fmt: skip
    last = len(layers) - 1
    counts = layer_counts_of(record, without_thresholds=frozenset({last}))
    memories = finn_build.place(finn_build.memories(layers), len(layers), bram36, calibration.bram_min_bits)
    for layer, layer_record, count in zip(layers, record["layers"], counts):
        count["rom_logic"] = memories.logic[layer.index]
        count["rom_registers"] = 0.0  # the FINN build reads its memories into its own pipeline
        count["comparator"] = finn_build.comparator_bits(layer, layer_record["live_lanes"], layer.index == last)
    streams = [float(finn_build.stream_bits(layer, index == last)) for index, layer in enumerate(record["layers"])]
    return Build(counts, memories.ramb18, streams, memories.weights, memories.thresholds)


def block_counts(record: dict, layers: list[rtl.FoldedLayer], shapes=memory.RAMB18_SHAPES) -> list[int]:
    """Per placed layer, the blocks of ``shapes`` (RAMB18s by default; a Lattice family's own) its block ROMs take,
    each in its best aspect ratio (``record``: the layers' ``design_record``)."""
    return [sum(memory.blocks_for(rom["depth"], rom["live_bits"], shapes) for rom in record["roms"]
                if rom["block"] and rom["layer"] == layer.index) for layer in layers]  # fmt: skip


def rtl_styles(layer: rtl.FoldedLayer) -> tuple[str, str]:
    """Where this RTL puts most of a layer's weight and threshold bits."""
    bits = {"block": 0, "distributed": 0}
    for name, (words, width) in layer.roms.items():
        if name != "weight_rom":
            bits["block" if name in layer.block_roms else "distributed"] += len(words) * width
    thresholds = "block" if bits["block"] > bits["distributed"] else "distributed"
    return ("block" if "weight_rom" in layer.block_roms else "distributed"), thresholds


def price(layers: list[rtl.FoldedLayer], hardware: HardwareModel, calibration: str = "yosys", bram36: int = 25) -> Price:
    """LUTs and FFs of the fitted terms as the calibration's toolchain builds the design; BRAM, DSPs and cycles as placed.

    ``bram36``: the device's block RAM, within which a FINN build's memories are placed
    (this RTL's were placed by ``placement.place``).
    """
    factors = hardware.calibrations[calibration]
    built = build(layers, factors, bram36)
    priced = [
        LayerPrice(
            luts=sum(hardware.luts[term] * count[term] for term in LUT_TERMS) + factors.stream_luts_per_bit * stream,
            ffs=factors.ff_factor * sum(hardware.ffs[term] * count[term] for term in FF_TERMS),
            bram18=blocks,
            dsps=len(layer.dsp_units),
            weight_memory=weights,
            threshold_memory=thresholds,
        )
        for layer, count, blocks, stream, weights, thresholds in zip(
            layers, built.counts, built.ramb18, built.stream_bits, built.weight_memory, built.threshold_memory
        )
    ]
    return Price(
        luts=sum(layer.luts for layer in priced),
        ffs=sum(layer.ffs for layer in priced),
        bram36=sum(layer.bram18 for layer in priced) / 2,
        dsps=sum(layer.dsps for layer in priced),
        latency_cycles=sum(layer.latency for layer in layers),
        interval_cycles=max(layer.latency for layer in layers),
        critical_path_ns=max(timing.stage_paths(layers).values()),
        layers=tuple(priced),
    )


def placed(
    policy: IntegerPolicy, folding: list[tuple[int, int]], settings, weight_styles=None, part=None
) -> list[rtl.FoldedLayer]:
    """``policy`` folded and placed within the device of ``settings`` (a ``synthesis.estimate.SynthesisSettings``), or
    within ``part`` (anything with ``block_memory`` and ``dsps``: a Lattice part, ``synthesis.lattice``).

    Memories go where ``placement.place`` puts them; products fill the device's DSP48E1s and the
    rest are built in LUTs, unless ``settings.multipliers`` forces every product to one
    style. Both calibrations place products this way, so the model, the RTL that
    ``dse synth --post-synth`` generates and yosys's synthesis of it use the same DSPs.
    ``weight_styles``: per layer, FINN's ``ram_style`` of a folding file ("block",
    "distributed" or "auto"), which overrides the settings' weight memory for that layer.
    """
    part = part or settings.part
    return placement.place(
        rtl.fold(policy, folding, settings.pad_multiple), part.block_memory, part.dsps,
        weights=tuple(WEIGHT_PLACEMENT[style if style in ("block", "distributed") else settings.weight_memory]
                      for style in (weight_styles or ["auto"] * len(folding))),
        products=settings.multipliers,
    )  # fmt: skip


#: ``SynthesisSettings.weight_memory`` (FINN's names) as ``placement.place`` takes it
WEIGHT_PLACEMENT = {"cheaper": "auto", "block": "block", "distributed": "logic"}


def estimate(
    policy: IntegerPolicy, folding: list[tuple[int, int]], settings, weight_styles=None
) -> tuple[list[rtl.FoldedLayer], Price]:
    """The placed layers of ``policy`` at ``folding`` and their price under ``settings.calibration``."""
    layers = placed(policy, folding, settings, weight_styles=weight_styles)
    return layers, price(layers, hardware_model(), settings.calibration, settings.part.bram36)

