"""Hardware estimates of an integer policy: resources, latency, throughput, fit, power, energy.

The pipeline, each step a function of the model before it (the paper; docs/hardware.md):

    IntegerPolicy -> finn_model (padded FINN-ONNX) -> to_hardware_layers (MVAU, PE = SIMD = 1)
      -> fold_to_target(target fps) | apply_folding(config)   # PE/SIMD per layer
      -> finish (data-width converters, cycles)
      -> synthesis.estimators: the hardware model (default: synthesis.model, calibrated to Vivado or yosys; the RTL's
                               latency and estimated timing) | set_weight_memory + FINN's own estimate and cycle model
      -> fit (resources and timing), power -> HardwareReport

``Synthesizer.sweep`` is the throughput-driven procedure: targets 1e2..1e9 actions/s,
and the design kept is the one of the highest target that fits the device.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

from synthesis import devices, estimators, finn_adapter, lattice_model, model
from synthesis.choices import CALIBRATIONS, ESTIMATORS, PRODUCT_PLACEMENTS, WEIGHT_MEMORIES
from synthesis.dataflow import finn_model
from synthesis.devices import DEFAULT_DEVICE, REFERENCE_TOGGLE_RATE, Device, device
from synthesis.errors import SynthesisInputError
from synthesis.lattice_parts import LatticePart, require
from synthesis.lowering import IntegerPolicy
from synthesis.report import HardwareReport, target_notes, write_report

DEFAULT_TARGETS = tuple(10.0**power for power in range(2, 10))

def vivado_note() -> str:
    if os.environ.get("XILINX_VIVADO"):
        return "estimates only: run the folder of `dse export --finn` for Vivado synthesis, timing and power"
    return "Vivado steps not run (XILINX_VIVADO is not set): no synthesis, timing or Vivado power report"


@dataclass(frozen=True)
class SynthesisSettings:
    """Everything besides the network and its folding that decides a design's estimate."""

    device: str = DEFAULT_DEVICE
    """FPGA part (see ``synthesis.devices.DEVICES``); on a Lattice part (``lattice``), the part FINN folds for"""
    clock_mhz: float | None = 100.0
    """clock frequency; the paper fixes 100 MHz. None (a Lattice part only): each design at the fastest clock it is
    estimated to close at"""
    pad_multiple: int = 32
    """observation and action dimensions are zero-padded to a multiple of this (1: no padding)"""
    weight_memory: str = "cheaper"
    """weights in logic or LUTRAM ("distributed"), in BRAM ("block"), or where they save the most (the model: BRAM for
    the memories that save the most LUTs per RAMB18 while the device's last; FINN's estimate: per layer, the smaller
    share of the device)"""
    mvau_wwidth_max: int = 36
    """widest weight stream per PE the folding search may use (FINN's default)"""
    toggle_rate: float = REFERENCE_TOGGLE_RATE
    """average toggle rate of the power model"""
    estimator: str = "model"
    """"model": ``synthesis.model``, fitted to synthesized designs; "finn": FINN's analytical estimate, for comparison"""
    calibration: str = "vivado"
    """the model's toolchain: "vivado" (what a FINN/Vivado build of the design gets, fitted to the published Vivado
    designs) or "yosys" (what ``dse synth --post-synth`` builds); ignored by the FINN estimator"""
    multipliers: str = "auto"
    """"auto": products on the device's DSP48E1s while they last (the widest first), the rest in LUTs, as Vivado infers
    them and as the RTL places them; or all on DSPs ("dsp") or in LUTs ("lut"), fitting or not (the model only)"""
    lattice: str = ""
    """a Lattice part's short name (``synthesis.lattice_parts``: lfe5u-25f, ice40up5k, ...): designs are placed within
    it and priced by its family's fitted model (``synthesis.lattice_model``); "": the XC7 ``device``"""

    def __post_init__(self):
        object.__setattr__(self, "device", device(self.device).part)
        if self.lattice:
            object.__setattr__(self, "lattice", require(self.lattice).aliases[0])
            if self.estimator != "model":
                raise SynthesisInputError(f"estimator {self.estimator!r} has no Lattice model; on {self.lattice} use model")
        if self.clock_mhz is None and not self.lattice:
            raise SynthesisInputError("a clock is needed on the XC7: only on a Lattice part is each design clocked at "
                                      "the fastest it closes at")  # fmt: skip
        clock = self.clock_mhz
        if clock is not None and not (isinstance(clock, int | float) and math.isfinite(clock) and 0 < clock <= 1000):
            raise SynthesisInputError(f"clock {self.clock_mhz} MHz is not allowed; use a value in (0, 1000]")
        if not isinstance(self.pad_multiple, int) or self.pad_multiple < 1:
            raise SynthesisInputError(f"pad multiple {self.pad_multiple} is not allowed; use an integer >= 1 (1: none)")
        if self.weight_memory not in WEIGHT_MEMORIES:
            raise SynthesisInputError(
                f"weight memory {self.weight_memory!r} is unknown; use one of {', '.join(WEIGHT_MEMORIES)}"
            )
        if not isinstance(self.mvau_wwidth_max, int) or self.mvau_wwidth_max < 1:
            raise SynthesisInputError(f"mvau_wwidth_max {self.mvau_wwidth_max} is not allowed; use an integer >= 1")
        if not 0 < self.toggle_rate <= 1:
            raise SynthesisInputError(f"toggle rate {self.toggle_rate} is not allowed; use a value in (0, 1]")
        for name, allowed in (("estimator", ESTIMATORS), ("calibration", CALIBRATIONS), ("multipliers", PRODUCT_PLACEMENTS)):
            if getattr(self, name) not in allowed:
                raise SynthesisInputError(f"{name} {getattr(self, name)!r} is unknown; use one of {', '.join(allowed)}")

    @property
    def part(self) -> Device:
        return device(self.device)

    def to_dict(self) -> dict:
        """The settings as a study and a cache key record them; without ``lattice`` where none is set, so a record
        made before Lattice parts reads the same."""
        return {name: value for name, value in asdict(self).items() if name != "lattice" or value}

    @property
    def lattice_part(self) -> LatticePart | None:
        return require(self.lattice) if self.lattice else None

    @property
    def folding_clock_mhz(self) -> float:
        """The clock a throughput target is folded for: the one asked, or on a Lattice part without one, its
        family's typical clock."""
        if self.clock_mhz is not None:
            return self.clock_mhz
        return lattice_model.family_model(self.lattice_part.family).typical_mhz


def read_folding(path: Path | str) -> dict:
    """A folding config file (FINN's JSON format); a clear error when it is not one."""
    path = Path(path)
    try:
        config = json.loads(path.read_text())
    except OSError as error:
        raise SynthesisInputError(f"folding file {path} cannot be read: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise SynthesisInputError(f"folding file {path} is not JSON: {error}") from None
    if not isinstance(config, dict):
        raise SynthesisInputError(f"folding file {path} must hold a JSON object of layer name -> {{PE, SIMD}}")
    return config


def check_target(target_fps) -> None:
    if not (isinstance(target_fps, int | float) and math.isfinite(target_fps) and target_fps > 0):
        raise SynthesisInputError(f"target throughput {target_fps} is not allowed; use a number > 0 (actions/s)")


def _divisors(number: int) -> str:
    return ", ".join(str(d) for d in range(1, number + 1) if number % d == 0)


class Synthesizer:
    """Estimates of one integer policy under one set of settings, cached on disk by content."""

    def __init__(self, policy: IntegerPolicy, settings: SynthesisSettings | None = None, cache_dir: Path | None = None):
        self.policy = policy
        self.settings = settings or SynthesisSettings()
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._hardware = None

    @property
    def hardware(self):
        """The model as unfolded hardware layers, built once and copied per design."""
        if self._hardware is None:
            model = finn_model(self.policy, self.settings.pad_multiple)
            self._hardware = finn_adapter.to_hardware_layers(model, self.settings.device)
        return self._hardware

    def layer_shapes(self) -> dict[str, tuple[int, int]]:
        """MVAU name -> (rows MH, columns MW), the names a folding file uses."""
        return {
            node.name: (finn_adapter.layer_attribute(node, "MH"), finn_adapter.layer_attribute(node, "MW"))
            for node in finn_adapter.mvau_nodes(self.hardware)
        }

    def at_target(self, target_fps: float) -> HardwareReport:
        """The design FINN's folding search picks for ``target_fps`` actions per second."""
        check_target(target_fps)

        def build():
            graph, notes = finn_adapter.fold_to_target(self.hardware, self._target_cycles(target_fps), self.settings.mvau_wwidth_max)
            return self._report(graph, target_fps, notes)

        return self._cached({"target_fps": float(target_fps)}, build)

    def folding_at(self, target_fps: float) -> list[tuple[int, int]]:
        """(PE, SIMD) per layer of FINN's folding for ``target_fps``, without pricing it."""
        check_target(target_fps)
        folded, _ = finn_adapter.fold_to_target(self.hardware, self._target_cycles(target_fps), self.settings.mvau_wwidth_max)
        return [(finn_adapter.layer_attribute(node, "PE"), finn_adapter.layer_attribute(node, "SIMD"))
                for node in finn_adapter.mvau_nodes(folded)]  # fmt: skip

    def _target_cycles(self, target_fps: float) -> int:
        return max(1, int(self.settings.folding_clock_mhz * 1e6 / target_fps))

    def with_folding(self, config: dict) -> HardwareReport:
        """The design with an explicit folding (FINN's folding JSON: layer -> PE, SIMD[, ram_style])."""
        config = self.check_folding(config)
        return self._cached(
            {"folding": config}, lambda: self._report(finn_adapter.apply_folding(self.hardware, config), None, [])
        )

    def sweep(self, targets: tuple[float, ...] = DEFAULT_TARGETS) -> tuple[list[HardwareReport], HardwareReport | None]:
        """The paper's throughput sweep (docs/hardware.md): a design per target; the chosen one is the highest target's that fits."""
        reports = [self.at_target(target) for target in sorted(targets)]
        fitting = [report for report in reports if report.fits]
        return reports, (fitting[-1] if fitting else None)

    def check_folding(self, config: dict) -> dict:
        shapes = self.layer_shapes()
        layers = {name: value for name, value in config.items() if name != "Defaults"}
        unknown = sorted(set(layers) - set(shapes))
        if unknown:
            raise SynthesisInputError(f"folding names unknown layer(s) {', '.join(unknown)}; layers are {', '.join(shapes)}")
        missing = [name for name in shapes if name not in layers]
        if missing:
            raise SynthesisInputError(f"folding lacks layer(s) {', '.join(missing)}; give PE and SIMD for each of {', '.join(shapes)}")
        checked: dict = {"Defaults": {}}
        for name, (rows, columns) in shapes.items():
            entry = layers[name]
            if not isinstance(entry, dict) or not {"PE", "SIMD"} <= set(entry):
                raise SynthesisInputError(f"folding of layer {name} must be an object with PE and SIMD, got {entry!r}")
            extra = set(entry) - {"PE", "SIMD", "ram_style"}
            if extra:
                raise SynthesisInputError(f"folding of layer {name} has unknown key(s) {', '.join(sorted(extra))}; allowed: PE, SIMD, ram_style")
            pe, simd = entry["PE"], entry["SIMD"]
            if not isinstance(pe, int) or pe < 1 or rows % pe:
                raise SynthesisInputError(f"layer {name}: PE {pe!r} does not divide its {rows} rows (allowed: {_divisors(rows)})")
            if not isinstance(simd, int) or simd < 1 or columns % simd:
                raise SynthesisInputError(f"layer {name}: SIMD {simd!r} does not divide its {columns} columns (allowed: {_divisors(columns)})")
            memory = entry.get("ram_style")
            if memory is not None and memory not in ("distributed", "block"):
                raise SynthesisInputError(f"layer {name}: ram_style {memory!r} is not allowed; use distributed or block")
            checked[name] = {"PE": pe, "SIMD": simd} | ({"ram_style": memory} if memory else {})
        return checked

    def _cached(self, design: dict, build) -> HardwareReport:
        if self.cache_dir is None:
            return build()
        key = json.dumps(
            {
                "policy": self.policy.digest(),
                "settings": self.settings.to_dict(),
                "design": design,
                "finn": metadata.version("finn-plus"),
                "model": devices.HARDWARE_MODEL_VERSION,
                "device": asdict(self.settings.part),
                "power": devices.power_coefficients(),
                "hardware_model": model.hardware_model().digest,
                **({"lattice_model": lattice_model.digest()} if self.settings.lattice else {}),
            },
            sort_keys=True,
        )
        path = self.cache_dir / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"
        if path.exists():
            try:
                return HardwareReport.from_dict(json.loads(path.read_text()))
            except (json.JSONDecodeError, KeyError, TypeError):
                pass  # a damaged entry is rebuilt below
        report = build()
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        write_report(path, report.to_dict())
        return report

    def _report(self, graph, target_fps: float | None, notes: list[str]) -> HardwareReport:
        """The design of ``graph`` (folded): this policy priced at its folding."""
        settings, part = self.settings, self.settings.part
        if settings.estimator == "finn":
            finn_adapter.set_weight_memory(
                graph, settings.device, settings.weight_memory, lambda luts, bram18: luts / part.luts + bram18 / (2 * part.bram36)
            )
        graph = finn_adapter.finish(graph, settings.device)
        if settings.lattice:
            return lattice_model.report(self.policy, graph, settings, settings.lattice_part, target_fps, notes)
        if settings.estimator == "model":
            resources = estimators.model_resources(self.policy, graph, settings)
        else:
            resources = estimators.finn_resources(graph, settings)
        layers, ffs, path = resources.layers, resources.ffs, resources.critical_path_ns
        luts = sum(layer.luts for layer in layers)
        bram36 = sum(layer.bram18 for layer in layers) / 2
        dsps = sum(layer.dsps for layer in layers)
        over = part.over(luts, ffs or 0, bram36, dsps, path, settings.clock_mhz)
        throughput = settings.clock_mhz * 1e6 / resources.interval_cycles
        # FINN counts no FFs: its power takes as many as LUTs (the published designs have 0.8 to 1.3 FFs per LUT)
        power = part.static_w + part.dynamic_power_w(luts, luts if ffs is None else ffs, settings.clock_mhz, settings.toggle_rate)
        notes = target_notes(target_fps, throughput, notes)
        return HardwareReport(
            device=settings.device,
            clock_mhz=settings.clock_mhz,
            target_fps=target_fps,
            layers=tuple(layers),
            luts=luts,
            bram36=bram36,
            dsps=dsps,
            latency_cycles=resources.latency_cycles,
            throughput_fps=throughput,
            fits=not over,
            over=over,
            power_w=power,
            energy_per_action_j=power / throughput,
            power_source=(
                f"model: static {part.static_w} W + dynamic power of the LUTs and FFs at {settings.clock_mhz:g} MHz, "
                f"toggle {settings.toggle_rate:g} (synthesis/devices.py, synthesis/hardware_model.json)"
            ),
            notes=tuple(dict.fromkeys(notes)) + resources.notes + (vivado_note(),),
            ffs=ffs,
            estimator=resources.estimator,
            critical_path_ns=path,
        )
