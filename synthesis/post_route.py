"""One design on a Lattice part through the open flow: its RTL placed within the part, simulated by Verilator, placed
and routed by nextpnr, and packed into a bitstream.

    generate_rtl     -> policy.v, placement.json, README.md   (synthesis.post_synth, placed within the part's block RAM
                        and multipliers)
    simulate_rtl     -> sim/   (Verilator: bit-exactness, latency and interval in cycles)
    place_and_route  -> PART/, policy-PART.bit or .bin   (synthesis.lattice)
    simulate_netlist -> PART/netlist.v, PART/sim/   (synthesis.netlist_sim: the synthesized netlist, iCE40 only)
    report           -> post_route.json   (PostRouteReport)

Resources and the maximum frequency are nextpnr's, of the routed design; latency and
throughput are the simulated cycles at the clock the design was routed for. Energy is
not estimated: no open power model of these parts exists, and Lattice publishes its
per-resource figures only inside its closed power calculator.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from synthesis import post_synth
from synthesis.errors import SynthesisInputError, ToolFailure
from synthesis.lattice import FIRST_PASS_MHZ, PACKAGE, place_and_route
from synthesis.lattice_parts import FAMILIES, LatticePart, ports
from synthesis.lowering import IntegerPolicy
from synthesis.netlist_sim import simulate_netlist, simulates
from synthesis.report import MeasuredReport, read_report, write_report

POWER_SOURCE = "not estimated: no open power model of Lattice parts exists (synthesis.post_route)"


@dataclass(frozen=True)
class PostRouteReport(MeasuredReport):
    """One design after place-and-route on a Lattice part: what ``post_route.json`` holds."""

    device: str
    """the part's ordering code"""
    clock_mhz: float
    """the clock it was routed for, and latency and throughput are at"""
    fmax_mhz: float | None
    """the routed design's maximum frequency by nextpnr's timing analysis (None: no path between registers)"""
    meets_timing: bool
    folding: tuple[tuple[int, int], ...]
    rtl_dir: str
    luts: int
    """ECP5: LUT4s (TRELLIS_COMB); iCE40: logic cells"""
    ffs: int
    block_rams: int
    dsps: int
    """multipliers: MULT18X18D or SB_MAC16"""
    io: int
    fits: bool
    over: tuple[str, ...]
    """each resource the part lacks, with both figures, and the clock when the routed design misses it"""
    latency_cycles: int
    initiation_interval: float
    throughput_fps: float
    bit_exact: bool
    """the RTL and, where simulated, the synthesized netlist agree with the integer forward on every observation"""
    observations: int
    mismatches: int
    """of the RTL's simulation"""
    netlist_mismatches: int | None
    """of the synthesized netlist's (``synthesis.netlist_sim``), all of them where its cycles differ from the RTL's;
    None where the family's cells have no simulation model (ECP5)"""
    energy_per_action_j: float | None
    power_source: str
    bitstream: str
    seconds: float
    """synthesis, place-and-route and packing"""
    notes: tuple[str, ...]
    key: str

    TUPLES = ("over", "notes")


def post_route(
    policy: IntegerPolicy,
    folding: list[tuple[int, int]],
    settings,
    part: LatticePart,
    rtl_dir: Path,
    observation_levels: np.ndarray,
    clock_mhz: float | None = None,
) -> PostRouteReport:
    """The report of ``policy`` folded as ``folding`` on ``part``, built in ``rtl_dir`` (or read from there).

    ``settings``: a ``synthesis.estimate.SynthesisSettings`` (padding, weight memory, multipliers; its device is not
    used); ``clock_mhz`` None: the fastest the design closes at (``synthesis.lattice.place_and_route``). A design the
    part has too few cells for is reported as not fitting, without timing or bitstream.
    """
    levels = post_synth.checked_levels(policy, observation_levels)
    check_pins(policy, part)
    rtl_dir = Path(rtl_dir)
    key = _key(policy, folding, settings, part, clock_mhz, levels)
    cached = read_report(rtl_dir / "post_route.json", key, PostRouteReport.from_dict)
    if cached is not None and (not cached.bitstream or Path(cached.bitstream).exists()):
        return cached
    post_synth.generate_rtl(policy, folding, settings, rtl_dir, part=part)
    simulation = post_synth.simulate_rtl(policy, rtl_dir, levels)
    placed = place_and_route(rtl_dir / "policy.v", part, clock_mhz)
    netlist = simulate_netlist(policy, rtl_dir, part, levels) if simulates(part) else None
    over = part.over(placed.luts, placed.ffs, placed.block_rams, placed.dsps)
    if placed.routed and not placed.meets_timing:
        over += (f"clock {placed.fmax_mhz:.1f} MHz < {placed.target_mhz:g} MHz",)
    if not placed.routed:
        clock = f"not placed: {placed.unplaced} (no timing, no bitstream)"
        over = over or (placed.unplaced,)
    elif clock_mhz is None:
        clock = f"clock: {placed.target_mhz:g} MHz, the fastest this design closes at by nextpnr's timing analysis"
    elif placed.fmax_mhz is None:
        clock = f"clock: {clock_mhz:g} MHz as asked; no path runs between registers"
    else:
        clock = f"clock: {clock_mhz:g} MHz as asked; the routed design's maximum is {placed.fmax_mhz:.1f} MHz"
    mismatches = post_synth.mismatches(policy, simulation, levels)
    netlist_mismatches = None
    if netlist is not None:  # a netlist that answers in other cycles than the RTL differs from it
        same_cycles = (netlist.latency_cycles, netlist.initiation_interval) == (simulation.latency_cycles,
                                                                                simulation.initiation_interval)
        netlist_mismatches = post_synth.mismatches(policy, netlist, levels) if same_cycles else len(levels)
    report = PostRouteReport(
        device=part.name,
        clock_mhz=placed.target_mhz,
        fmax_mhz=placed.fmax_mhz,
        meets_timing=placed.meets_timing,
        folding=tuple(tuple(pair) for pair in folding),
        rtl_dir=str(rtl_dir),
        luts=placed.luts,
        ffs=placed.ffs,
        block_rams=placed.block_rams,
        dsps=placed.dsps,
        io=placed.io,
        fits=not over,
        over=over,
        latency_cycles=simulation.latency_cycles,
        initiation_interval=simulation.initiation_interval,
        throughput_fps=placed.target_mhz * 1e6 / simulation.initiation_interval,
        bit_exact=mismatches == 0 and not netlist_mismatches,
        observations=len(levels),
        mismatches=mismatches,
        netlist_mismatches=netlist_mismatches,
        energy_per_action_j=None,
        power_source=POWER_SOURCE,
        bitstream=placed.bitstream,
        seconds=placed.seconds,
        notes=(clock, f"energy {POWER_SOURCE}"),
        key=key,
    )
    write_report(rtl_dir / "post_route.json", report.to_dict())
    return report


def check_pins(policy: IntegerPolicy, part: LatticePart) -> None:
    """A design whose ports outnumber the package's I/O pins cannot be placed (its stream is parallel): one line."""
    pins = ports(policy)
    if pins > part.io:
        raise SynthesisInputError(
            f"the policy's {pins} ports ({policy.obs_dim} observations x {policy.input_bits} bits, {policy.action_dim} "
            f"actions x {policy.layers[-1].output_bits} bits, 6 for clock, reset and handshakes) exceed the {part.io} "
            f"I/O pins of {part.name}; train with fewer --input-bits or choose a part with more pins"
        )


def _key(policy: IntegerPolicy, folding, settings, part: LatticePart, clock_mhz, levels: np.ndarray) -> str:
    family = FAMILIES[part.family]
    try:
        nextpnr = metadata.version(family.nextpnr)
    except metadata.PackageNotFoundError:
        raise ToolFailure("nextpnr", f"{family.nextpnr} is not installed (pip install 'dse[post-synth]', which has "
                                     f"{PACKAGE})") from None  # fmt: skip
    material = json.dumps(
        {
            "policy": policy.digest(),
            "folding": [list(pair) for pair in folding],
            # what the RTL and its placement depend on (the device and the estimate's settings are the XC7's)
            "settings": {name: getattr(settings, name) for name in ("pad_multiple", "weight_memory", "multipliers")},
            "part": asdict(part),
            "clock_mhz": clock_mhz,
            "first_pass_mhz": FIRST_PASS_MHZ,
            "tools": {name: version for name, version in post_synth.tools().items() if name != "yosys_script"}
            | {family.nextpnr: nextpnr, "script": family.synth},
            "observations": hashlib.sha256(np.ascontiguousarray(levels).tobytes()).hexdigest(),
        },
        sort_keys=True,
    )
    return hashlib.sha256(material.encode()).hexdigest()[:24]
