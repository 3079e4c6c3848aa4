"""From a trained QONNX policy to hardware numbers (the paper's method, docs/hardware.md).

- ``synthesis.lowering``: the integer-only network (integer weights, per-channel
  integer thresholds) and its integer forward pass.
- ``synthesis.dataflow``: that network as the FINN-ONNX graph FINN maps.
- ``synthesis.estimate``: FINN's folding and the hardware model's (or FINN's) estimate
  (``synthesis.estimators``) -> ``HardwareReport`` (``synthesis.report``: resources,
  latency, throughput, device fit, timing, power, energy), one target, an explicit
  folding, or the throughput sweep.
- ``synthesis.rtl``: the folded layers as hardware (ROMs, products, pipeline);
  ``synthesis.placement``: where memories and products go; ``synthesis.verilog`` (with
  ``verilog_search`` and ``verilog_text``) writes them as RTL.
- ``synthesis.model``: the hardware model, pricing what ``synthesis.features`` counts of a
  placed design, as this RTL or as a FINN build (``synthesis.finn_build``) is built;
  ``synthesis.timing`` estimates its longest path; ``synthesis.calibration`` fits it.
- ``synthesis.export``: a FINN build folder for Vivado users.
- ``synthesis.post_synth``: the hardware truth of one design without Vivado: its
  RTL, synthesized by yosys (``synthesis.yosys``), timed (``synthesis.timing``) and
  simulated bit for bit by Verilator (``synthesis.simulate``).
- ``synthesis.devices``: parts and the power model.

Knows nothing of RL or Optuna: it takes a QONNX file. Only ``estimate`` and
``export`` import FINN (through ``synthesis.finn_adapter``), which takes seconds,
so this package's top level stays light.
"""

from synthesis.devices import DEFAULT_DEVICE, DEVICES, HARDWARE_MODEL_VERSION, Device, device
from synthesis.errors import FinnFailure, SynthesisInputError
from synthesis.lowering import IntegerLayer, IntegerPolicy, lower_qonnx

__all__ = [
    "DEFAULT_DEVICE",
    "DEVICES",
    "HARDWARE_MODEL_VERSION",
    "Device",
    "FinnFailure",
    "IntegerLayer",
    "IntegerPolicy",
    "SynthesisInputError",
    "device",
    "lower_qonnx",
]
