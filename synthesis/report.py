"""What an estimate of one design says: its layers, resources, latency, throughput, fit, power and timing."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import ClassVar


def nanojoules(joules: float | None) -> str:
    """Energy for reading, in the one unit every report uses for it: 8.3 nJ, 619,652 nJ; "not estimated" for None."""
    if joules is None:
        return "not estimated"
    value = joules * 1e9
    return f"{value:,.1f} nJ" if abs(value) < 1000 else f"{value:,.0f} nJ"


def target_notes(target_fps: float | None, throughput_fps: float, notes: list[str]) -> list[str]:
    """A design's notes at its folding target: the target missed first, or none where it was met (FINN's folding
    warnings come from its first pass, which the relaxed second pass made good)."""
    if target_fps is not None and throughput_fps < target_fps:
        return [f"target {target_fps:.0e}/s not met: the fastest folding found gives {throughput_fps:,.0f}/s", *notes]
    return [] if target_fps is not None else notes


def write_report(path: Path, report: dict) -> None:
    """``report`` as JSON in ``path``, under a temporary name until whole: a cached report another process may read."""
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps(report, indent=2))
    temporary.replace(path)


def read_report(path: Path, key: str, from_dict):
    """The report cached in ``path`` when its ``key`` matches (``from_dict`` builds it), else None: a missing, stale or
    damaged one is rebuilt by the caller."""
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
        return from_dict(data) if data.get("key") == key else None
    except (json.JSONDecodeError, KeyError, TypeError):
        return None


class MeasuredReport:
    """What a report of a built and simulated design (a frozen dataclass with ``latency_cycles``, ``clock_mhz`` and
    ``folding``) derives and how it round-trips through JSON; ``TUPLES``: its other fields JSON turns into lists."""

    TUPLES: ClassVar[tuple[str, ...]] = ()

    @property
    def latency_s(self) -> float:
        return self.latency_cycles / (self.clock_mhz * 1e6)

    def to_dict(self) -> dict:
        return asdict(self) | {"latency_s": self.latency_s}

    @classmethod
    def from_dict(cls, data: dict):
        values = {f.name: data[f.name] for f in fields(cls)}
        values["folding"] = tuple(tuple(pair) for pair in values["folding"])
        for name in cls.TUPLES:
            values[name] = tuple(values[name])
        return cls(**values)


@dataclass(frozen=True)
class LayerEstimate:
    """One hardware layer of a design (an MVAU or a data-width converter)."""

    name: str
    op_type: str
    cycles: int
    luts: int
    bram18: int
    dsps: int
    rows: int | None = None
    """MH: output channels (MVAU only)"""
    columns: int | None = None
    """MW: input channels (MVAU only)"""
    pe: int | None = None
    simd: int | None = None
    weight_memory: str | None = None
    """where the weights are: "block" (BRAM) or "distributed" (LUTs)"""
    threshold_memory: str | None = None
    """where most threshold bits are (the model only)"""
    multipliers: str | None = None
    """"dsp", "lut", or "dsp+lut" where the device's DSPs ran out within the layer (the model only; FINN's estimate
    counts every product in LUTs)"""
    ffs: int | None = None


@dataclass(frozen=True)
class HardwareReport:
    """The estimate of one design: what the search optimizes and what `synth.json` holds."""

    device: str
    clock_mhz: float
    target_fps: float | None
    """the folding target, or None for an explicit folding"""
    layers: tuple[LayerEstimate, ...]
    luts: int
    bram36: float
    """RAMB36 tiles; a RAMB18 counts as half, as Vivado reports (on a Lattice part: its block RAMs' bits in RAMB36s)"""
    dsps: int
    """DSP48E1s (on a Lattice part: its multipliers, MULT18X18D or SB_MAC16)"""
    latency_cycles: int
    """first input to last output, through every layer"""
    throughput_fps: float
    """peak actions per second: clock / the slowest layer's cycles"""
    fits: bool
    over: tuple[str, ...]
    """each resource the device lacks, with both figures"""
    power_w: float | None
    energy_per_action_j: float | None
    """None: not estimated (Lattice parts: no open power model of them exists)"""
    power_source: str
    notes: tuple[str, ...] = ()
    ffs: int | None = None
    """the model's FFs; None from FINN's estimate (FINN has no FF model)"""
    estimator: str = "finn"
    """what made the resource figures: "model (vivado)", "model (yosys)" or "finn" """
    critical_path_ns: float | None = None
    """the longest register-to-register path, estimated from the RTL's stages (the model; on a Lattice part, the
    period its family's model says it closes at); None: not checked (FINN)"""
    block_rams: int | None = None
    """a Lattice part's block RAMs (DP16KD or SB_RAM40_4K) as placed; None on the XC7"""

    @property
    def latency_s(self) -> float:
        return self.latency_cycles / (self.clock_mhz * 1e6)

    def folding(self) -> dict:
        """This design's folding in FINN's folding-config JSON format."""
        config: dict = {"Defaults": {}}
        for layer in self.layers:
            if layer.pe is not None:
                config[layer.name] = {"PE": layer.pe, "SIMD": layer.simd, "ram_style": layer.weight_memory}
        return config

    def to_dict(self) -> dict:
        data = asdict(self)
        data["latency_s"] = self.latency_s
        return data

    @classmethod
    def from_dict(cls, data: dict) -> HardwareReport:
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        values["layers"] = tuple(LayerEstimate(**layer) for layer in data["layers"])
        values["over"] = tuple(data["over"])
        values["notes"] = tuple(data["notes"])
        return cls(**values)
