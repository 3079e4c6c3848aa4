"""Hardware estimates of an integer policy: resources, latency, throughput, fit, power, energy.

The pipeline, each step a function of the model before it (SPEC section 6):

    IntegerPolicy -> finn_model (padded FINN-ONNX) -> to_hardware_layers (MVAU, PE = SIMD = 1)
      -> fold_to_target(target fps) | apply_folding(config)   # PE/SIMD per layer
      -> finish (data-width converters, cycles) -> FINN's cycle model
      -> resources: synthesis.model (default: the model fitted to synthesis, calibrated to Vivado or yosys)
                    | set_weight_memory + FINN's own estimate (``estimator="finn"``)
      -> HardwareReport

``Synthesizer.sweep`` is the throughput-driven procedure: targets 1e2..1e9 actions/s,
and the design kept is the one of the highest target that fits the device.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass, fields
from importlib import metadata
from pathlib import Path

from synthesis import devices, finn_adapter, model, rtl
from synthesis.dataflow import finn_model
from synthesis.devices import DEFAULT_DEVICE, REFERENCE_TOGGLE_RATE, Device, device
from synthesis.errors import SynthesisInputError
from synthesis.lowering import IntegerPolicy

DEFAULT_TARGETS = tuple(10.0**power for power in range(2, 10))

FF_NOTE = "FFs not estimated: FINN's estimator has no flip-flop model, so FF fit is not checked"
FIFO_NOTE = "FIFOs between layers not counted: FINN sizes them by RTL simulation, which needs Vivado"
ESTIMATORS = ("model", "finn")


def vivado_note() -> str:
    if os.environ.get("XILINX_VIVADO"):
        return "estimates only: run the folder of `dse export --finn` for Vivado synthesis, timing and power"
    return "Vivado steps not run (XILINX_VIVADO is not set): no synthesis, timing or Vivado power report"


@dataclass(frozen=True)
class SynthesisSettings:
    """Everything besides the network and its folding that decides a design's estimate."""

    device: str = DEFAULT_DEVICE
    """FPGA part (see ``synthesis.devices.DEVICES``)"""
    clock_mhz: float = 100.0
    """clock frequency; SPEC section 6 fixes 100 MHz"""
    pad_multiple: int = 32
    """observation and action dimensions are zero-padded to a multiple of this (1: no padding)"""
    weight_memory: str = "cheaper"
    """weights in LUTRAM ("distributed"), BRAM ("block"), or per layer the smaller device share"""
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
    """products where the calibration's toolchain puts them ("auto": vivado every product on a DSP48E1, yosys those
    of 9 bits or more while the device's DSPs last), or all on DSPs ("dsp") or in LUTs ("lut"), fitting or not
    (the model only)"""

    def __post_init__(self):
        object.__setattr__(self, "device", device(self.device).part)
        if not (isinstance(self.clock_mhz, int | float) and math.isfinite(self.clock_mhz) and 0 < self.clock_mhz <= 1000):
            raise SynthesisInputError(f"clock {self.clock_mhz} MHz is not allowed; use a value in (0, 1000]")
        if not isinstance(self.pad_multiple, int) or self.pad_multiple < 1:
            raise SynthesisInputError(f"pad multiple {self.pad_multiple} is not allowed; use an integer >= 1 (1: none)")
        if self.weight_memory not in finn_adapter.WEIGHT_MEMORIES:
            raise SynthesisInputError(
                f"weight memory {self.weight_memory!r} is unknown; use one of {', '.join(finn_adapter.WEIGHT_MEMORIES)}"
            )
        if not isinstance(self.mvau_wwidth_max, int) or self.mvau_wwidth_max < 1:
            raise SynthesisInputError(f"mvau_wwidth_max {self.mvau_wwidth_max} is not allowed; use an integer >= 1")
        if not 0 < self.toggle_rate <= 1:
            raise SynthesisInputError(f"toggle rate {self.toggle_rate} is not allowed; use a value in (0, 1]")
        for name, allowed in (("estimator", ESTIMATORS), ("calibration", model.CALIBRATIONS), ("multipliers", rtl.PRODUCT_PLACEMENTS)):
            if getattr(self, name) not in allowed:
                raise SynthesisInputError(f"{name} {getattr(self, name)!r} is unknown; use one of {', '.join(allowed)}")

    @property
    def part(self) -> Device:
        return device(self.device)


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
    """"dsp" or "lut" (the model only; FINN's estimate counts every product in LUTs)"""
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
    """RAMB36 tiles; a RAMB18 counts as half, as Vivado reports"""
    dsps: int
    latency_cycles: int
    """first input to last output, through every layer"""
    throughput_fps: float
    """peak actions per second: clock / the slowest layer's cycles"""
    fits: bool
    over: tuple[str, ...]
    """each resource the device lacks, with both figures"""
    power_w: float
    energy_per_action_j: float
    power_source: str
    notes: tuple[str, ...] = ()
    ffs: int | None = None
    """the model's FFs; None from FINN's estimate (FINN has no FF model)"""
    estimator: str = "finn"
    """what made the resource figures: "model (vivado)", "model (yosys)" or "finn" """

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
        return self._folded_to_target(target_fps, "target_fps", self.policy)

    def bound_at_target(self, target_fps: float) -> HardwareReport:
        """A design no trained policy of this policy's shape and bits undercuts at ``target_fps``: known before training.

        FINN's folding of this policy at the target, priced by ``model.bound`` (the
        all-zero network's price, which never exceeds a trained one's at that folding).
        Only the model estimator has such a bound.
        """
        if self.settings.estimator != "model":
            raise SynthesisInputError(f"estimator {self.settings.estimator!r} has no lower bound; use estimator 'model'")
        return self._folded_to_target(target_fps, "bound_target_fps", model.without_weights(self.policy))

    def _folded_to_target(self, target_fps: float, key: str, priced: IntegerPolicy) -> HardwareReport:
        """FINN's folding of this policy for ``target_fps``, with ``priced`` (this policy or its bound) priced at it."""
        if not (isinstance(target_fps, int | float) and math.isfinite(target_fps) and target_fps > 0):
            raise SynthesisInputError(f"target throughput {target_fps} is not allowed; use a number > 0 (actions/s)")

        def build():
            cycles = max(1, int(self.settings.clock_mhz * 1e6 / target_fps))
            graph, notes = finn_adapter.fold_to_target(self.hardware, cycles, self.settings.mvau_wwidth_max)
            return self._report(graph, target_fps, notes, priced)

        return self._cached({key: float(target_fps)}, build)

    def bounds(self, targets: tuple[float, ...] = DEFAULT_TARGETS) -> list[HardwareReport]:
        """``bound_at_target`` of each target, slowest first."""
        return [self.bound_at_target(target) for target in sorted(targets)]

    def with_folding(self, config: dict) -> HardwareReport:
        """The design with an explicit folding (FINN's folding JSON: layer -> PE, SIMD[, ram_style])."""
        config = self.check_folding(config)
        return self._cached(
            {"folding": config}, lambda: self._report(finn_adapter.apply_folding(self.hardware, config), None, [])
        )

    def sweep(self, targets: tuple[float, ...] = DEFAULT_TARGETS) -> tuple[list[HardwareReport], HardwareReport | None]:
        """SPEC section 6: a design per target; the chosen one is the highest target's that fits."""
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
                "settings": asdict(self.settings),
                "design": design,
                "finn": metadata.version("finn-plus"),
                "model": devices.HARDWARE_MODEL_VERSION,
                "device": asdict(self.settings.part),
                "power": devices.power_coefficients(),
                "hardware_model": model.hardware_model().digest,
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
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(report.to_dict(), indent=2))
        temporary.replace(path)
        return report

    def _report(self, graph, target_fps: float | None, notes: list[str], priced: IntegerPolicy | None = None) -> HardwareReport:
        """The design of ``graph`` (folded); the model prices ``priced`` at its folding (default: this policy)."""
        settings, part = self.settings, self.settings.part
        if settings.estimator == "finn":
            finn_adapter.set_weight_memory(
                graph, settings.device, settings.weight_memory, lambda luts, bram18: luts / part.luts + bram18 / (2 * part.bram36)
            )
        graph = finn_adapter.finish(graph, settings.device)
        cycles, performance = finn_adapter.cycle_estimates(graph)
        if settings.estimator == "finn":
            resources = finn_adapter.resource_estimates(graph, settings.device)
            layers = [self._finn_layer(node, resources[node.name], int(cycles[node.name])) for node in graph.graph.node]
            ffs, estimator, estimate_notes = None, "finn", (FF_NOTE, FIFO_NOTE)
        else:
            mvaus = finn_adapter.mvau_nodes(graph)
            folding = [(finn_adapter.layer_attribute(node, "PE"), finn_adapter.layer_attribute(node, "SIMD")) for node in mvaus]
            styles = [finn_adapter.layer_attribute(node, "ram_style") for node in mvaus]  # "auto" unless a folding file set it
            placed, price = model.estimate(priced or self.policy, folding, settings, weight_styles=styles)
            layers = [self._model_layer(node, layer, priced, int(cycles[node.name]))
                      for node, layer, priced in zip(mvaus, placed, price.layers)]  # fmt: skip
            ffs, estimator = sum(layer.ffs for layer in layers), f"model ({settings.calibration})"
            calibration = model.hardware_model().calibrations[settings.calibration]
            estimate_notes = (
                f"resources: synthesis.model, hardware model {devices.HARDWARE_MODEL_VERSION}, calibration "
                f"{settings.calibration} (LUTs {calibration.lut_factor:.2f} x the fitted LUTs + {calibration.lut_per_ff:.2f} x "
                f"the fitted FFs, FFs {calibration.ff_factor:.2f} x the fitted FFs: {calibration.source})",
            )
        luts = sum(layer.luts for layer in layers)
        bram36 = sum(layer.bram18 for layer in layers) / 2
        dsps = sum(layer.dsps for layer in layers)
        over = tuple(
            f"{name} {used:,g} > {available:,}"
            for name, used, available in (
                ("LUT", luts, part.luts), ("FF", ffs or 0, part.ffs), ("BRAM36", bram36, part.bram36), ("DSP", dsps, part.dsps),
            )
            if used > available
        )  # fmt: skip
        throughput = settings.clock_mhz * 1e6 / performance["max_cycles"]
        power = part.static_w + part.dynamic_power_w(luts, bram36, dsps, settings.clock_mhz, settings.toggle_rate, ffs=ffs or 0)
        if target_fps is not None and throughput < target_fps:
            notes = [f"target {target_fps:.0e}/s not met: the fastest folding found gives {throughput:,.0f}/s", *notes]
        elif target_fps is not None:
            notes = []  # SetFolding's warnings come from its first pass; the relaxed second pass met the target
        return HardwareReport(
            device=settings.device,
            clock_mhz=settings.clock_mhz,
            target_fps=target_fps,
            layers=tuple(layers),
            luts=luts,
            bram36=bram36,
            dsps=dsps,
            latency_cycles=int(performance["critical_path_cycles"]),
            throughput_fps=throughput,
            fits=not over,
            over=over,
            power_w=power,
            energy_per_action_j=power / throughput,
            power_source=(
                f"model: static {part.static_w} W + per-resource dynamic power at {settings.clock_mhz:g} MHz, "
                f"toggle {settings.toggle_rate:g} (synthesis/devices.py, synthesis/hardware_model.json)"
            ),
            notes=tuple(dict.fromkeys(notes)) + estimate_notes + (vivado_note(),),
            ffs=ffs,
            estimator=estimator,
        )

    @staticmethod
    def _finn_layer(node, used: dict, cycles: int) -> LayerEstimate:
        is_mvau = node.op_type.startswith("MVAU")
        return LayerEstimate(
            name=node.name,
            op_type=node.op_type,
            cycles=cycles,
            luts=int(used["LUT"]),
            bram18=int(used["BRAM_18K"]),
            dsps=int(used["DSP"]),
            rows=finn_adapter.layer_attribute(node, "MH") if is_mvau else None,
            columns=finn_adapter.layer_attribute(node, "MW") if is_mvau else None,
            pe=finn_adapter.layer_attribute(node, "PE") if is_mvau else None,
            simd=finn_adapter.layer_attribute(node, "SIMD") if is_mvau else None,
            weight_memory=finn_adapter.layer_attribute(node, "ram_style") if is_mvau else None,
        )

    @staticmethod
    def _model_layer(node, layer: rtl.FoldedLayer, priced: model.LayerPrice, cycles: int) -> LayerEstimate:
        """An MVAU priced by the model; its memory and multiplier styles are those ``dse export --finn`` asks FINN for."""
        threshold_bits = {style: 0 for style in ("block", "logic")}
        for name, (words, width) in layer.roms.items():
            if name != "weight_rom":
                threshold_bits[layer.style(name)] += len(words) * width
        return LayerEstimate(
            name=node.name,
            op_type=node.op_type,
            cycles=cycles,
            luts=round(priced.luts),
            bram18=priced.bram18,
            dsps=priced.dsps,
            rows=layer.rows,
            columns=layer.columns,
            pe=layer.pe,
            simd=layer.simd,
            weight_memory="block" if "weight_rom" in layer.block_roms else "distributed",
            threshold_memory="block" if threshold_bits["block"] > threshold_bits["logic"] else "distributed",
            multipliers="dsp" if layer.dsp_products else "lut",
            ffs=round(priced.ffs),
        )
