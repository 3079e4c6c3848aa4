"""Timing of a design on a -1 Artix-7 without a vendor tool: the longest register-to-register path, estimated.

No open tool places and routes 7-series parts, so this is an estimate, made two ways
from the same delay figures:

- ``netlist_path``: static timing analysis of yosys's mapped netlist (``synthesis.yosys``):
  every path from a register, block RAM or DSP output through LUTs, carry chains and
  wide multiplexers to a register, block RAM or DSP input.
- ``synthesis.model`` prices the same paths from the RTL's structure, without
  synthesis (``stage_paths`` there), so the search can keep only designs that meet the clock.

Delays of the cells (ns) are the figures yosys ships for 7-series in
``techlibs/xilinx/cells_sim.v`` (their specify blocks), which cite Project X-Ray's
timing database of the Artix-7 (prjxray-db ``artix7/timings``: CLBLL_L.sdf, slicel.sdf,
BRAM_L.sdf) and give the DSP48E1's pipeline figures. Routing is not in any of them:
``ROUTE_NS`` per net (and more per doubling of fanout) is an assumption, typical of
the net delays Vivado reports on -1 Artix-7 designs (0.3 to 1 ns), not a measurement.
Carry chains cascade on dedicated wires (no routing between CARRY4s).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from synthesis import rtl

#: Assumed routing delay of a net with one load, and what each doubling of its fanout adds (ns).
ROUTE_NS = 0.6
ROUTE_PER_FANOUT_DOUBLING_NS = 0.1
#: The clock period at 100 MHz (the paper; docs/hardware.md).
PERIOD_NS = 10.0

#: Clock to output (ns): FDRE/FDSE/FDCE/FDPE 0.303; a block RAM without its output register 2.454.
CLOCK_TO_OUT_NS = {"FDRE": 0.303, "FDSE": 0.303, "FDCE": 0.303, "FDPE": 0.303, "RAMB18E1": 2.454, "RAMB36E1": 2.454,
                   "SRL16E": 1.37, "SRLC32E": 1.37}  # fmt: skip
#: Setup (ns) of a flip-flop's D (0: -0.046 in the data, negative times unsupported), CE, and synchronous reset/set.
SETUP_NS = {"D": 0.0, "CE": 0.109, "R": 0.404, "S": 0.404}
#: Setup of a block RAM's address (ADDRARDADDR), the deepest of its inputs this design drives.
BRAM_SETUP_NS = 0.566
#: LUT input pin to output (ns): I0 is the slowest pin of every LUT size.
LUT_PIN_NS = {1: (0.127,), 2: (0.238, 0.127), 3: (0.407, 0.238, 0.127), 4: (0.472, 0.407, 0.238, 0.127),
              5: (0.631, 0.472, 0.407, 0.238, 0.127), 6: (0.642, 0.631, 0.472, 0.407, 0.238, 0.127)}  # fmt: skip
#: CARRY4 (ns): from S/DI to the carry out and to a sum output, and from the carry in (a chained CARRY4's) to both.
CARRY_S_TO_CO_NS, CARRY_S_TO_O_NS, CARRY_CI_TO_CO_NS, CARRY_CI_TO_O_NS = 0.528, 0.618, 0.114, 0.313
#: MUXF7 and MUXF8 (select to output, the slower of their inputs).
MUXF7_NS, MUXF8_NS = 0.296, 0.273
#: DSP48E1 (ns), by which pipeline registers synthesis used (cells_sim.v's A.required, P.arrival, A.P.comb):
#: setup of A/B with their input register, with only the M register, with only the P register;
#: clock to P from the P register, from the M register, from the A/B registers; and A/B to P unregistered.
DSP_SETUP_NS = {"input": 0.324, "M": 1.416, "P": 2.739}
DSP_CLOCK_TO_P_NS = {"P": 0.329, "M": 1.671, "input": 2.952}
DSP_COMBINATIONAL_NS = 2.823

COMBINATIONAL = {f"LUT{size}" for size in LUT_PIN_NS} | {"CARRY4", "MUXF7", "MUXF8", "INV"}


def route_ns(fanout: int) -> float:
    """The assumed delay of a routed net driving ``fanout`` cell inputs."""
    return ROUTE_NS + ROUTE_PER_FANOUT_DOUBLING_NS * math.log2(max(fanout, 1))


def adder_ns(bits: int) -> float:
    """A ripple adder or comparator of ``bits`` bits: a LUT per bit into a carry chain, to its last sum bit."""
    chained = max(math.ceil(bits / 4) - 1, 0)
    return LUT_PIN_NS[6][0] + CARRY_S_TO_CO_NS + chained * CARRY_CI_TO_CO_NS + CARRY_CI_TO_O_NS - CARRY_CI_TO_CO_NS


def constant_levels(weight: int) -> int:
    """Adder levels of a product by the constant ``weight`` (``rtl.signed_digits``): a tree of its digits, then a
    negation when every digit is negative."""
    digits = rtl.signed_digits(weight)
    negated = bool(digits) and all(digit < 0 for _, digit in digits)
    return math.ceil(math.log2(max(len(digits), 1))) + negated


def logic_levels_ns(levels: int) -> float:
    """``levels`` LUT6s in series, each after the first reached by a routed net."""
    return levels * LUT_PIN_NS[6][0] + max(levels - 1, 0) * route_ns(1)


def rom_ns(depth: int) -> float:
    """A ROM of ``depth`` words in logic, address to data: abc builds a ROM of 2**a words in about a - 5 LUT levels
    (yosys's netlists of the calibration grid: 4 for 512 and 1,024 words, 5 to 7 for 2,048, 7 for 8,192)."""
    return logic_levels_ns(max(math.ceil(math.log2(max(depth, 2))) - 5, 1))


def mux_ns(inputs: int) -> float:
    """A choice among ``inputs`` words, a LUT6 level per four: a multiplexer by a binary index (a ``case``), or the
    shifter yosys builds for an input slice ``x[sf * w +: w]`` of a vector of ``inputs`` bits (one 2:1 level per bit
    of the shift, two to a LUT6: the same count)."""
    return logic_levels_ns(max(math.ceil(math.log2(max(inputs, 2)) / 2), 1))


@dataclass(frozen=True)
class TimingPath:
    """The longest register-to-register path of a design, estimated."""

    delay_ns: float
    """clock to output of its start, every cell and net on the way, and the setup of its end"""
    start: str
    """the cell type it starts from"""
    end: str
    """the cell type (and input) it ends at"""
    cells: int
    """combinational cells on it"""

    @property
    def meets(self) -> bool:
        return self.delay_ns <= PERIOD_NS


def _dsp_registers(cell: dict) -> str:
    """Which DSP48E1 pipeline registers synthesis used: "P", "M", "input" (A/B only) or "" (none)."""
    parameters = {name: int(str(value), 2) if set(str(value)) <= {"0", "1"} else value
                  for name, value in cell.get("parameters", {}).items()}  # fmt: skip
    if parameters.get("PREG", 1):
        return "P"
    if parameters.get("MREG", 1):
        return "M"
    return "input" if parameters.get("AREG", 1) or parameters.get("BREG", 1) else ""


def netlist_path(module: dict) -> TimingPath:
    """The longest register-to-register path of a flattened yosys netlist (``write_json``'s module), estimated."""
    netlist = _TimedNetlist(module)
    netlist.propagate()
    return netlist.longest()


class _TimedNetlist:
    """Arrival times at every cell output of a netlist, from the registers and memories that launch them."""

    def __init__(self, module: dict):
        self.cells = module["cells"]
        self.driver: dict[int, tuple[str, str]] = {}
        self.loads: dict[int, int] = {}
        for name, cell in self.cells.items():
            for port, bits in cell["connections"].items():
                wires = [bit for bit in bits if isinstance(bit, int)]  # constants are strings
                if cell["port_directions"][port] == "output":
                    self.driver.update(dict.fromkeys(wires, (name, port)))
                else:
                    for bit in wires:
                        self.loads[bit] = self.loads.get(bit, 0) + 1
        self.arrival: dict[str, tuple[float, int, str]] = {}
        """per cell output port "cell/port": time after the clock edge, combinational cells before it, its path's start"""

    @staticmethod
    def launch(cell: dict) -> float | None:
        """Clock to output of a sequential cell, None for a combinational one."""
        if cell["type"] == "DSP48E1":
            registers = _dsp_registers(cell)
            return DSP_CLOCK_TO_P_NS[registers] if registers else None
        return CLOCK_TO_OUT_NS.get(cell["type"])

    def at(self, bit: int, carry_in: bool = False) -> tuple[float, int, str]:
        """Arrival at a load of a net: its driver's output time and the net's routing.

        A CARRY4's carry out reaches the next CARRY4's carry in on a dedicated wire, without routing.
        """
        if bit not in self.driver:
            return 0.0, 0, "input"  # a top-level input: constrained outside the design
        name, port = self.driver[bit]
        time, count, start = self.arrival[f"{name}/{port}"]
        chained = carry_in and self.cells[name]["type"] == "CARRY4" and port == "CO"
        return time + (0.0 if chained else route_ns(self.loads.get(bit, 1))), count, start

    def inputs(self, name: str) -> list[tuple[str, int]]:
        cell = self.cells[name]
        return [(pin, bit) for pin, bits in cell["connections"].items() if cell["port_directions"][pin] == "input"
                for bit in bits if isinstance(bit, int)]  # fmt: skip

    def done(self, name: str) -> bool:
        return all(f"{name}/{port}" in self.arrival for port, way in self.cells[name]["port_directions"].items() if way == "output")

    def propagate(self) -> None:
        """Every cell output's arrival, each cell after the cells that feed it (depth first, without recursion)."""
        for first in self.cells:
            stack, entered = [first], set()
            while stack:
                name = stack[-1]
                cell = self.cells[name]
                if self.done(name):
                    stack.pop()
                    continue
                outputs = [port for port, way in cell["port_directions"].items() if way == "output"]
                clock_to_out = self.launch(cell)
                if clock_to_out is not None:
                    self.arrival.update({f"{name}/{port}": (clock_to_out, 0, cell["type"]) for port in outputs})
                    stack.pop()
                    continue
                pending = [self.driver[bit][0] for _, bit in self.inputs(name) if bit in self.driver]
                pending = [other for other in pending if not self.done(other)]
                if name not in entered and pending:
                    entered.add(name)
                    stack += [other for other in pending if other not in entered]
                    continue
                stack.pop()
                for port in outputs:
                    self.arrival[f"{name}/{port}"] = self._latest(name, port)

    def _latest(self, name: str, port: str) -> tuple[float, int, str]:
        """The latest arrival at ``port`` of a combinational cell over its inputs."""
        cell, best = self.cells[name], (0.0, 0, "constant")
        for pin, bit in self.inputs(name):
            if bit in self.driver and f"{self.driver[bit][0]}/{self.driver[bit][1]}" not in self.arrival:
                continue  # a loop through combinational cells is cut where it closes
            time, count, start = self.at(bit, carry_in=cell["type"] == "CARRY4" and pin == "CI")
            best = max(best, (time + _through(cell, pin, port), count + 1, start))
        return best

    def longest(self) -> TimingPath:
        """The latest arrival plus setup over every input of a register, memory or DSP."""
        worst = TimingPath(0.0, "", "", 0)
        for cell in self.cells.values():
            kind = cell["type"]
            if kind in COMBINATIONAL or kind == "BUFG":
                continue
            registers = _dsp_registers(cell) if kind == "DSP48E1" else None
            for pin, bits in cell["connections"].items():
                if cell["port_directions"][pin] != "input" or pin in ("C", "CLK", "CLKARDCLK", "CLKBWRCLK"):
                    continue
                setup = _setup(kind, pin, registers)
                for bit in bits if setup is not None else ():
                    if isinstance(bit, int) and bit in self.driver:
                        time, count, start = self.at(bit)
                        if time + setup > worst.delay_ns:
                            worst = TimingPath(time + setup, start, f"{kind}.{pin}", count)
        return worst


def _through(cell: dict, pin: str, out: str) -> float:
    """Delay of a combinational cell from input ``pin`` to output ``out``."""
    kind = cell["type"]
    if kind.startswith("LUT"):
        return LUT_PIN_NS[int(kind[3:])][int(pin[1:]) if pin[1:].isdigit() else 0]
    if kind == "CARRY4":
        if pin in ("CI", "CYINIT"):
            return CARRY_CI_TO_CO_NS if out == "CO" else CARRY_CI_TO_O_NS
        return CARRY_S_TO_CO_NS if out == "CO" else CARRY_S_TO_O_NS
    if kind == "MUXF7":
        return MUXF7_NS
    if kind == "MUXF8":
        return MUXF8_NS
    if kind == "DSP48E1":
        return DSP_COMBINATIONAL_NS
    return 0.0  # INV: folded into the LUT it feeds


def _setup(kind: str, pin: str, dsp_registers: str | None) -> float | None:
    """Setup of a path ending at ``pin`` of a sequential cell, or None where no path ends (outputs, clocks)."""
    if kind.startswith("FD"):
        return SETUP_NS.get(pin[0] if pin in ("R", "S", "CLR", "PRE") else pin, 0.0)
    if kind.startswith("RAMB"):
        return BRAM_SETUP_NS
    if kind == "DSP48E1":
        return DSP_SETUP_NS[dsp_registers] if dsp_registers else None
    if kind.startswith(("SRL", "RAM")):
        return 0.0
    return None


def _register_path(start_ns: float, logic_ns: float, setup_ns: float = 0.0) -> float:
    """A path from a register (or memory) output through ``logic_ns`` of cells, each net routed, to a register."""
    return start_ns + logic_ns + route_ns(1) + setup_ns


def stage_paths(layers: list[rtl.FoldedLayer]) -> dict[str, float]:
    """The longest path of each kind of stage of the RTL (``synthesis.rtl``), estimated from its structure (ns).

    The same delay figures as ``netlist_path``; every combinational cell is preceded by a routed net:

    - weight read (several folds): the counter's register to the weight ROM's read register (a logic ROM's LUT and
      multiplexer levels, or a block RAM's address setup), and its second register (a block RAM's clock to output)
    - input slice (several slices): the shifter that takes the SF-th slice of the input vector, or the two multiplexers
      that take its group and then the slice (``FoldedLayer.slice_group``)
    - product: shift-and-add in LUTs (a tree of the weight's bits, or of a constant's signed digits), or a DSP48E1 to
      its pipeline register
    - adder tree: ``rtl.ADDER_LEVELS_PER_STAGE`` adders of the stage's width
    - accumulate (several slices): one adder of the accumulator's width
    - search: a threshold pair's register or block RAM output, the 2:1 select and the comparison, and the read of the
      next stage's pair; or, for constant thresholds, the table read as logic, three comparisons and their count
    """
    worst: dict[str, float] = {}
    for layer in layers:
        for stage, delay in _layer_paths(layer):
            worst[stage] = max(worst.get(stage, 0.0), delay)
    return worst


def _layer_paths(layer: rtl.FoldedLayer) -> list[tuple[str, float]]:
    """Every stage path of one layer (``stage_paths``), as (stage, ns), in the order the data flows."""
    # synthesis takes the weight and input registers into a DSP48E1's own A and B registers
    operand_setup = DSP_SETUP_NS["input"] if layer.dsp_units else 0.0
    product_out = DSP_CLOCK_TO_P_NS["M"] if layer.dsp_units else CLOCK_TO_OUT_NS["FDRE"]
    return [
        *_weight_read_paths(layer, operand_setup),
        *_input_slice_paths(layer, operand_setup),
        ("product", _product_path(layer)),
        *_sum_paths(layer, product_out),
        *_search_paths(layer, _search_operand_ns(layer, product_out)),
    ]


def _weight_read_paths(layer: rtl.FoldedLayer, operand_setup: float) -> list[tuple[str, float]]:
    """A layer of several folds reads its weight word each cycle: from a block RAM (its address setup, then its
    second register), or from a ROM in logic into the operand register (a DSP's own, ``operand_setup``)."""
    clock_q = CLOCK_TO_OUT_NS["FDRE"]
    if layer.constant_weights:
        return []
    if "weight_rom" in layer.block_roms:
        return [("weight read", _register_path(clock_q, 0.0, BRAM_SETUP_NS)),
                ("weight read", _register_path(CLOCK_TO_OUT_NS["RAMB18E1"], 0.0))]  # fmt: skip
    return [("weight read", _register_path(clock_q, route_ns(1) + rom_ns(len(layer.roms["weight_rom"][0])), operand_setup))]


def _input_slice_paths(layer: rtl.FoldedLayer, operand_setup: float) -> list[tuple[str, float]]:
    """A layer of several slices takes the SF-th slice of its input vector: in one shifter, or its group and then the
    slice (``FoldedLayer.slice_group``), where the second stage's register may be a DSP's."""
    clock_q, hop = CLOCK_TO_OUT_NS["FDRE"], route_ns(1)
    if layer.slice_group > 1:
        return [("input slice", _register_path(clock_q, hop + mux_ns(-(-layer.synapse_folds // layer.slice_group)))),
                ("input slice", _register_path(clock_q, hop + mux_ns(layer.slice_group), operand_setup))]  # fmt: skip
    if layer.synapse_folds > 1:
        return [("input slice", _register_path(clock_q, hop + mux_ns(layer.columns * layer.input_bits), operand_setup))]
    return []


def _product_path(layer: rtl.FoldedLayer) -> float:
    """The slower of a layer's products: shift-and-add in LUTs (a tree of the weight's bits, or of a constant's signed
    digits), or a DSP48E1's multiplier."""
    clock_q = CLOCK_TO_OUT_NS["FDRE"]
    levels = [constant_levels(weight) for _, weight, _ in layer.product_units if weight is not None]
    lut_levels = max(levels, default=math.ceil(math.log2(layer.weight_bits)))
    lut_product = _register_path(clock_q, lut_levels * (route_ns(1) + adder_ns(layer.product_bits)))
    # a product on a DSP48E1 is registered in its multiplier (M) register: later out than a flip-flop's
    dsp_product = _register_path(clock_q, 0.0, DSP_SETUP_NS["M"])
    return max(lut_product if len(layer.dsp_units) < len(layer.product_units) else 0.0,
               dsp_product if layer.dsp_units else 0.0)  # fmt: skip


def _sum_paths(layer: rtl.FoldedLayer, product_out: float) -> list[tuple[str, float]]:
    """A layer's adder tree (``rtl.ADDER_LEVELS_PER_STAGE`` adders of the stage's width, from the product registers,
    ``product_out`` after the clock) and, over several slices, its accumulator (one adder of its width)."""
    hop, paths = route_ns(1), []
    if layer.tree_depth:
        width = min(layer.accumulator_bits, layer.product_bits + rtl.ADDER_LEVELS_PER_STAGE * layer.tree_depth)
        paths.append(("adder tree", _register_path(product_out, rtl.ADDER_LEVELS_PER_STAGE * (hop + adder_ns(width)))))
    if layer.synapse_folds > 1:
        # the value the accumulator takes: a tree register, or the product register itself
        summed = CLOCK_TO_OUT_NS["FDRE"] if layer.tree_depth else product_out
        paths.append(("accumulate", _register_path(summed, hop + adder_ns(layer.accumulator_bits))))
    return paths


def _search_operand_ns(layer: rtl.FoldedLayer, product_out: float) -> float:
    """When the sum the search compares is out after the clock: a tree or accumulator register's, or the product's."""
    return CLOCK_TO_OUT_NS["FDRE"] if layer.tree_depth or layer.synapse_folds > 1 else product_out


def _search_paths(layer: rtl.FoldedLayer, summed: float) -> list[tuple[str, float]]:
    """A layer's threshold search, from its threshold reads and from its sum (``summed`` after the clock).

    A threshold pair's register or block RAM output, the 2:1 select and the comparison, and the read of the next
    stage's pair; or, for constant thresholds, the table read as logic within the stage and three comparisons
    counted to two bits.
    """
    clock_q, hop = CLOCK_TO_OUT_NS["FDRE"], route_ns(1)
    compare = hop + adder_ns(layer.accumulator_bits)
    paths = []
    for name, (words, _) in layer.roms.items():
        if name.startswith("threshold_table"):
            table = hop + rom_ns(len(words)) if len(words) > 1 else 0.0
            paths.append(("search", _register_path(clock_q, table + compare + hop + LUT_PIN_NS[6][0])))
            paths.append(("search", _register_path(summed, compare + hop + LUT_PIN_NS[6][0])))
        elif name.startswith("threshold_rom"):
            block = name in layer.block_roms
            source = CLOCK_TO_OUT_NS["RAMB18E1"] if block else clock_q
            select = 0.0 if name.startswith("threshold_rom0_") else hop + LUT_PIN_NS[6][0]
            paths.append(("search", _register_path(source, select + compare)))
            paths.append(("search", _register_path(summed, compare)))
            read = _register_path(clock_q, 0.0, BRAM_SETUP_NS) if block else _register_path(clock_q, hop + rom_ns(len(words)))
            paths.append(("search", read))
    return paths
