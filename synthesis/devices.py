"""FPGA parts a design can target, their resources, and the power model.

Resources are the parts' data-sheet totals (AMD DS180 for Artix-7 and Spartan-7, DS190 for Zynq-7000).

FINN's estimator reports no power, so energy per action comes from a linear model in
the style of AMD's Xilinx Power Estimator (UG440): device static power plus, per
resource, a dynamic power proportional to clock frequency and toggle rate (UG440's
default toggle rate is 12.5%, which the coefficients below assume). The coefficients
are order-of-magnitude figures of the kind XPE gives for 7-series parts at 25 C
(typical process); this project has not calibrated them against Vivado, so energy
figures rank designs reliably but their absolute values are estimates. FFs count
where they are known (post-synthesis reports); FINN's estimator has no FF model.
Vivado's ``report_power`` on a built design replaces all of this.
"""

from __future__ import annotations

from dataclasses import dataclass

from synthesis.errors import SynthesisInputError

#: Dynamic power per resource at 1 MHz and 12.5% toggle rate, in watts.
#: LUT as logic or LUTRAM, with its share of routing (XPE Logic sheet, 7 series).
DYNAMIC_W_PER_MHZ_LUT = 1.5e-8
#: One flip-flop with its share of clock tree (XPE Logic sheet, 7 series).
DYNAMIC_W_PER_MHZ_FF = 3.0e-9
#: One RAMB36 at 50% enable (XPE BRAM sheet, 7 series).
DYNAMIC_W_PER_MHZ_BRAM36 = 1.0e-5
#: One DSP48E1 with registered multiplier (XPE DSP sheet, 7 series).
DYNAMIC_W_PER_MHZ_DSP = 3.0e-6
#: Toggle rate the coefficients above are quoted at (UG440's default).
REFERENCE_TOGGLE_RATE = 0.125


HARDWARE_MODEL_VERSION = 1
"""Bumped by every change to how a design is estimated (FINN configuration, memory placement, what is counted, the
power model) that alters a report for the same network and settings; estimates are cached, and studies recorded,
against it, so no cached estimate outlives the model that made it and no study mixes two models."""


def power_coefficients() -> dict[str, float]:
    """The power model's coefficients, as estimates are cached against them."""
    return {
        "lut": DYNAMIC_W_PER_MHZ_LUT,
        "ff": DYNAMIC_W_PER_MHZ_FF,
        "bram36": DYNAMIC_W_PER_MHZ_BRAM36,
        "dsp": DYNAMIC_W_PER_MHZ_DSP,
        "toggle": REFERENCE_TOGGLE_RATE,
    }


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
    """device static power at 25 C junction, typical process (XPE-style estimate)"""
    boards: str = ""

    def dynamic_power_w(
        self, luts: float, bram36: float, dsps: float, clock_mhz: float, toggle_rate: float, ffs: float = 0
    ) -> float:
        activity = clock_mhz * toggle_rate / REFERENCE_TOGGLE_RATE
        return activity * (
            luts * DYNAMIC_W_PER_MHZ_LUT
            + ffs * DYNAMIC_W_PER_MHZ_FF
            + bram36 * DYNAMIC_W_PER_MHZ_BRAM36
            + dsps * DYNAMIC_W_PER_MHZ_DSP
        )


DEVICES: dict[str, Device] = {
    device.part: device
    for device in (
        # SPEC section 6's target; the XC7A15T shares its die with the XC7A35T.
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
