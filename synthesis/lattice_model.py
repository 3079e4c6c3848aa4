"""The fast model on Lattice parts: a folded design's LUT4s, FFs, block RAM, multipliers and clock on an ECP5 or an
iCE40 UltraPlus, in well under a second, without the open flow.

A design is placed within the part as ``dse synth --post-synth --device`` places it
(``synthesis.model.placed``: its block RAMs and multipliers) and described by the same
counts as the XC7A15T's model (``synthesis.features``). Each family's weights of those
counts, and its clock period as ``a + b x`` the design's longest path estimated for the
Artix-7 (``synthesis.timing``), are fitted on designs the open flow placed and routed on
one of its parts (``docs/results/hardware/lattice/``: ``lattice_grid.py`` builds the grid,
``fit.py`` writes ``lattice_model.json`` here, with its error on designs held out of the
fit). Block RAMs are counted as placed, in the family's own blocks, and multipliers as
placed. No open power model of these parts exists, so energy is not estimated.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from synthesis import estimators, features, model, timing
from synthesis.errors import SynthesisInputError
from synthesis.lattice_parts import FAMILIES, LatticePart, ports
from synthesis.report import HardwareReport, LayerEstimate, target_notes

MODEL_FILE = Path(__file__).with_name("lattice_model.json")
POWER_SOURCE = "not estimated: no open power model of Lattice parts exists (synthesis.lattice_model)"


@dataclass(frozen=True)
class FamilyModel:
    """One family's fitted weights and clock, and how well they did on designs held out of the fit."""

    family: str
    part: str
    """the part its grid was placed and routed on"""
    designs: int
    luts: dict[str, float]
    """weight per ``synthesis.features.LUT_TERMS`` count: ECP5 LUT4s, or iCE40 logic cells"""
    ffs: dict[str, float]
    intercept_ns: float
    per_xc7_ns: float
    """the clock period: intercept_ns + per_xc7_ns x the longest path estimated for the Artix-7"""
    typical_mhz: float
    """the geometric mean of the grid's routed designs' maximum frequencies: the clock a throughput target is folded
    for when no clock is asked (a design's own clock comes from its path)"""
    held_out: dict
    """median and worst factor of estimate over nextpnr's figure, per figure, on the held-out designs"""

    def fmax_mhz(self, xc7_path_ns: float) -> float:
        return 1000 / (self.intercept_ns + self.per_xc7_ns * xc7_path_ns)

    @property
    def source(self) -> str:
        checks = ", ".join(f"{figure} x{check['median_factor']:.2f} median, x{check['worst_factor']:.2f} worst"
                           for figure, check in self.held_out.items() if figure in ("luts", "ffs", "fmax"))  # fmt: skip
        return (f"synthesis.lattice_model, fitted on {self.designs} designs placed and routed on {self.part} by the open "
                f"flow (docs/results/hardware/lattice); on designs held out of the fit: {checks}")  # fmt: skip


@functools.cache
def _models(path: Path = MODEL_FILE) -> tuple[dict[str, FamilyModel], str]:
    text = path.read_text()
    data = json.loads(text)
    models = {
        family: FamilyModel(family, fit["part"], fit["designs"], fit["luts"], fit["ffs"], fit["period"]["intercept_ns"],
                            fit["period"]["per_xc7_ns"], fit["typical_mhz"], fit["held_out_errors"])
        for family, fit in data.items()
    }  # fmt: skip
    return models, hashlib.sha256(text.encode()).hexdigest()[:16]


def family_model(family: str) -> FamilyModel:
    """The fitted model of ``family``; a one-line error where its grid has not been fitted yet."""
    models, _ = _models()
    if family not in models:
        raise SynthesisInputError(
            f"the {family} family has no fitted model yet (fitted: {', '.join(models) or 'none'}); build its grid with "
            f"docs/results/hardware/lattice/lattice_grid.py --family {family} and fit it with fit.py there"
        )
    return models[family]


def digest() -> str:
    """Of the committed fits: part of a cached estimate's key."""
    return _models()[1]


def resources(policy, graph, settings, part: LatticePart) -> estimators.Resources:
    """The family model's price of ``policy`` at ``graph``'s folding on ``part``; ``critical_path_ns`` is the period
    the design is estimated to close at on the part."""
    fitted = family_model(part.family)
    mvaus, folding, styles = estimators.folding_of_graph(graph)
    placed = model.placed(policy, folding, settings, weight_styles=styles, part=part)
    record = features.design_record(placed)
    blocks = model.block_counts(record, placed, FAMILIES[part.family].block_shapes)
    weighed = lambda weights, count: round(sum(weight * count[term] for term, weight in weights.items()))  # noqa: E731
    layers = tuple(
        LayerEstimate(
            name=node.name, op_type=node.op_type, cycles=layer.cycles, luts=weighed(fitted.luts, count), bram18=block,
            dsps=len(layer.dsp_units), rows=layer.rows, columns=layer.columns, pe=layer.pe, simd=layer.simd,
            weight_memory=model.rtl_styles(layer)[0], multipliers=estimators.multipliers(layer),
            ffs=weighed(fitted.ffs, count),
        )
        for node, layer, count, block in zip(mvaus, placed, features.layer_features(record), blocks)
    )  # fmt: skip
    period = 1000 / fitted.fmax_mhz(max(timing.stage_paths(placed).values()))
    cells = FAMILIES[part.family].cells
    notes = (f"resources and clock: {fitted.source}",
             "latency and interval: the RTL's pipeline (synthesis.rtl, checked by Verilator); block RAMs and "
             f"multipliers as placed ({cells['block_rams']}, {cells['dsps']})")  # fmt: skip
    latency, interval = sum(layer.latency for layer in placed), max(layer.latency for layer in placed)
    return estimators.Resources(layers, sum(layer.ffs for layer in layers), latency, interval, period,
                                f"lattice model ({part.family})", notes)  # fmt: skip


def report(policy, graph, settings, part: LatticePart, target_fps: float | None, notes: list[str]) -> HardwareReport:
    """The design of ``graph`` (folded, finished) on ``part`` at the clock asked (``settings.clock_mhz``), or where none
    is, at the fastest it is estimated to close at."""
    priced = resources(policy, graph, settings, part)
    layers = priced.layers
    luts, blocks = sum(layer.luts for layer in layers), sum(layer.bram18 for layer in layers)
    dsps = sum(layer.dsps for layer in layers)
    fmax = 1000 / priced.critical_path_ns
    clock = fmax if settings.clock_mhz is None else settings.clock_mhz
    over = part.over(luts, priced.ffs, blocks, dsps, ports(policy))
    if fmax < clock:
        over += (f"clock {fmax:.1f} MHz estimated < {clock:g} MHz",)
    throughput = clock * 1e6 / priced.interval_cycles
    notes = target_notes(target_fps, throughput, notes)
    how = "as asked" if settings.clock_mhz is not None else "the fastest it is estimated to close at"
    block_bits = max(depth * width for depth, width in FAMILIES[part.family].block_shapes)
    return HardwareReport(
        device=part.name,
        clock_mhz=clock,
        target_fps=target_fps,
        layers=layers,
        luts=luts,
        bram36=blocks * block_bits / 36_864,
        dsps=dsps,
        latency_cycles=priced.latency_cycles,
        throughput_fps=throughput,
        fits=not over,
        over=over,
        power_w=None,
        energy_per_action_j=None,
        power_source=POWER_SOURCE,
        notes=(*dict.fromkeys(notes), f"clock: {clock:.1f} MHz, {how} (estimated maximum {fmax:.1f} MHz)", *priced.notes,
               f"energy {POWER_SOURCE}"),  # fmt: skip
        ffs=priced.ffs,
        estimator=priced.estimator,
        critical_path_ns=priced.critical_path_ns,
        block_rams=blocks,
    )
