"""FPGA parts a design can target, their resources, and the power model.

Resources are the parts' data-sheet totals (AMD DS180 for Artix-7 and Spartan-7, DS190 for Zynq-7000).

Energy per action comes from a linear model in the style of AMD's Xilinx Power
Estimator (UG440): device static power plus a dynamic power proportional to the logic
used, the clock frequency and the toggle rate (quoted at UG440's default toggle rate,
12.5%). The dynamic coefficient (watts per LUT or FF per MHz) is fitted to the published
Vivado power figures of seven designs on the XC7A15T
(``docs/results/hardware/calibration/fit.py``) and read from
``synthesis/hardware_model.json``; it describes Vivado's vectorless estimate, not a
measurement. Block RAM and DSP48E1s have no term of their own: the seven designs, five
of which share 25 BRAM36 and 11 DSPs, cannot tell their power from the logic's (fitted
with them, their coefficients swing from 0 to several mW each as one design or another
is left out, and no prediction improves), so their share is in the logic coefficient.
Vivado's ``report_power`` on a built design replaces all of this.

Static power (``Device.static_w``) is an assumption: the device static power Vivado's
estimate gives at 25 C junction, typical process. For the XC7A15T it is 0.07 W, and the
published figures agree: the published power regressed on the published resource counts
has its intercept at 0.071 W (0.069 to 0.079 W as each design is left out). For the
other parts it is the same kind of figure, not checked against any design.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

from synthesis.errors import SynthesisInputError
from synthesis.memory import BlockMemory

#: Toggle rate the dynamic coefficients are quoted at (UG440's default).
REFERENCE_TOGGLE_RATE = 0.125
#: Written by the calibration's fit with the rest of the hardware model.
HARDWARE_MODEL_FILE = Path(__file__).with_name("hardware_model.json")

HARDWARE_MODEL_VERSION = 3
"""Bumped by every change to how a design is estimated (the model's terms or coefficients file, memory placement,
what is counted, the power model) that alters a report for the same network and settings; estimates are cached, and
studies recorded, against it (and the coefficients file's digest), so no cached estimate outlives the model that made
it and no study mixes two models. 1: FINN's estimate; 2: synthesis.model fitted to synthesized designs; 3: DSPs as a
pool, the RTL's pipelined latency and estimated timing, the vivado calibration as a FINN build."""


@functools.cache
def power_coefficients() -> dict[str, float]:
    """Dynamic watts per MHz at ``REFERENCE_TOGGLE_RATE``: "logic", per LUT or FF."""
    return dict(json.loads(HARDWARE_MODEL_FILE.read_text())["power"])


@dataclass(frozen=True)
class Device:
    """One FPGA part: its resources and static power."""

    part: str
    """the part name FINN and Vivado take, e.g. xc7a15tfgg484-1"""
    luts: int
    ffs: int
    bram36: int
    dsps: int
    static_w: float
    """device static power at 25 C junction, typical process, as Vivado's power estimate reports it (see DEVICES)"""
    boards: str = ""

    @property
    def block_memory(self) -> BlockMemory:
        return BlockMemory.of_bram36(self.bram36)

    def over(
        self, luts: float, ffs: float, bram36: float, dsps: float, path_ns: float | None = None, clock_mhz: float = 100.0
    ) -> tuple[str, ...]:
        """What a design exceeds on this part, e.g. ``("BRAM36 8 > 5", "path 10.40 ns > 10 ns")``; empty when it fits.

        ``path_ns``: its longest register-to-register path, checked against the clock period (None: not checked).
        """
        period = 1000 / clock_mhz
        figures = (("LUT", luts, self.luts), ("FF", ffs, self.ffs), ("BRAM36", bram36, self.bram36), ("DSP", dsps, self.dsps))
        found = tuple(f"{name} {used:,g} > {available:,}" for name, used, available in figures if used > available)
        return found + ((f"path {path_ns:.2f} ns > {period:g} ns",) if path_ns is not None and path_ns > period else ())

    def dynamic_power_w(self, luts: float, ffs: float, clock_mhz: float, toggle_rate: float) -> float:
        """Dynamic watts of a design of ``luts`` LUTs and ``ffs`` FFs (see the module docstring)."""
        activity = clock_mhz * toggle_rate / REFERENCE_TOGGLE_RATE
        return activity * (luts + ffs) * power_coefficients()["logic"]


DEVICES: dict[str, Device] = {
    device.part: device
    for device in (
        # the paper's target (docs/hardware.md); the XC7A15T shares its die with the XC7A35T.
        Device("xc7a15tfgg484-1", luts=10_400, ffs=20_800, bram36=25, dsps=45, static_w=0.07),
        # the smallest 7-series part (DS180), for controllers that must be tinier still
        Device("xc7s6cpga196-1", luts=3_752, ffs=7_504, bram36=5, dsps=10, static_w=0.03, boards="Spartan-7"),
        Device("xc7a35tcpg236-1", luts=20_800, ffs=41_600, bram36=50, dsps=90, static_w=0.07, boards="Basys 3, Cmod A7-35T"),
        Device("xc7a100tcsg324-1", luts=63_400, ffs=126_800, bram36=135, dsps=240, static_w=0.10, boards="Arty A7-100T, Nexys A7"),
        Device("xc7z020clg400-1", luts=53_200, ffs=106_400, bram36=140, dsps=220, static_w=0.12, boards="PYNQ-Z1/Z2 (PL only)"),
    )
}

DEFAULT_DEVICE = "xc7a15tfgg484-1"


def _key(name: str) -> str:
    return name.lower().replace("-", "").replace("_", "")


def device(name: str) -> Device:
    """The part called ``name``; dashes and case do not matter (xc7a15t-fgg484-1 works)."""
    for part, found in DEVICES.items():
        if _key(part) == _key(name):
            return found
    raise SynthesisInputError(f"unknown device {name!r}; known devices: {', '.join(DEVICES)}")
