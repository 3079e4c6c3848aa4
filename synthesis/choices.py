"""The fixed values of the hardware settings, in a module that imports nothing heavy.

The command line lists them in ``--help`` and refuses any other at once, before FINN is imported.
"""

WEIGHT_MEMORIES = ("cheaper", "distributed", "block")
"""weight memory of each MVAU: per layer whichever takes the smaller share of the device (what Vivado's "auto" tends
to pick; FINN's estimator cannot model "auto", it counts such weights as BRAM), LUTRAM, or BRAM"""

ESTIMATORS = ("model", "finn")
"""the hardware model fitted to synthesized designs, or FINN's analytical estimate"""

CALIBRATIONS = ("vivado", "yosys")
"""the toolchain the hardware model is fitted to"""

PRODUCT_PLACEMENTS = ("auto", "dsp", "lut")
"""products on the device's DSP48E1s while they last, the rest in LUTs ("auto"), or forced"""
