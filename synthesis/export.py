"""A FINN build folder: what a FINN user with Vivado needs to build the estimated design.

The folder holds the integer network FINN maps (``integer_policy.onnx``, FINN-ONNX
with integer input), the training's QONNX file for reference, the folding of the
design (FINN's folding JSON, memory styles included), and a build config for FINN's
builder that runs from hardware conversion through out-of-context synthesis and
Vivado's power estimate, for the chosen part and clock. It is the build the ``vivado``
calibration prices (``synthesis.finn_build``): the last layer streams its accumulators,
and its requantization (``output_thresholds.json``) joins the tanh lookup on the host.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from synthesis.dataflow import finn_model
from synthesis.estimate import SynthesisSettings
from synthesis.report import HardwareReport
from synthesis.lowering import IntegerPolicy

BUILD_STEPS = [
    "step_tidy_up",
    "step_convert_to_hw",
    "step_create_dataflow_partition",
    "step_specialize_layers",
    "step_apply_folding_config",
    "step_minimize_bit_width",
    "step_generate_estimate_reports",
    "step_hw_codegen",
    "step_hw_ipgen",
    "step_set_fifo_depths",
    "step_create_stitched_ip",
    "step_out_of_context_synthesis",
    "step_vivado_power_estimation",
]

MODEL_FILE = "integer_policy.onnx"
OUTPUT_THRESHOLDS_FILE = "output_thresholds.json"
QONNX_FILE = "policy.qonnx.onnx"
FOLDING_FILE = "folding_config.json"
CONFIG_FILE = "build_config.json"


def build_config(settings: SynthesisSettings) -> dict:
    """FINN ``DataflowBuildConfig`` fields for an out-of-context build of the folded design."""
    return {
        "output_dir": "build",
        "fpga_part": settings.device,
        "synth_clk_period_ns": 1000.0 / settings.clock_mhz,
        "folding_config_file": FOLDING_FILE,
        "standalone_thresholds": False,
        "minimize_bit_width": True,
        "enable_build_pdb_debug": False,
        "generate_outputs": ["estimate_reports", "stitched_ip", "out_of_context_synth"],
        "steps": BUILD_STEPS,
    }


def folding_config(report: HardwareReport) -> dict:
    """The design's folding with the memory and multiplier choices the estimate assumed.

    The model's choices per layer (weights and thresholds in BRAM or LUTs, products on
    DSPs or in LUTs) become FINN's ``ram_style``, ``ram_style_thresholds`` and
    ``resType``; FINN's own estimate assumed thresholds in LUTRAM and products in LUTs.
    A layer whose products the model put partly on DSPs (the device's ran out within it)
    gets ``resType`` "auto": FINN has one style per layer, and Vivado fills the DSPs.
    """
    config = report.folding()
    layers = {layer.name: layer for layer in report.layers}
    for name, entry in config.items():
        if name != "Defaults":
            layer = layers[name]
            entry.update(
                ram_style_thresholds=layer.threshold_memory or "distributed",
                resType={"dsp+lut": "auto"}.get(layer.multipliers, layer.multipliers or "lut"),
                # weights in the MVAU itself, partitioned per PE: the memories the vivado calibration places
                mem_mode="internal_embedded",
            )
    return config


def write_finn_build(
    policy: IntegerPolicy, report: HardwareReport, settings: SynthesisSettings, qonnx_path: Path, out_dir: Path
) -> Path:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    finn_model(policy, settings.pad_multiple, output_thresholds=False).save(str(out_dir / MODEL_FILE))
    last = policy.layers[-1]
    (out_dir / OUTPUT_THRESHOLDS_FILE).write_text(json.dumps(
        {"out_min": last.out_min, "thresholds": last.thresholds.tolist(), "output_step": policy.output_step}
    ))
    shutil.copyfile(qonnx_path, out_dir / QONNX_FILE)
    (out_dir / FOLDING_FILE).write_text(json.dumps(folding_config(report), indent=2))
    (out_dir / CONFIG_FILE).write_text(json.dumps(build_config(settings), indent=2))
    (out_dir / "estimate.json").write_text(json.dumps(report.to_dict(), indent=2))
    (out_dir / "README.md").write_text(_readme(policy, report, settings))
    return out_dir


def _readme(policy: IntegerPolicy, report: HardwareReport, settings: SynthesisSettings) -> str:
    layers = "\n".join(
        f"| {layer.name} | {layer.rows} x {layer.columns} | {layer.pe} | {layer.simd} | {layer.weight_memory} |"
        for layer in report.layers
        if layer.pe is not None
    )
    return f"""# FINN build of an integer policy

    finn build {CONFIG_FILE} {MODEL_FILE}

runs FINN's builder (finn-plus, with Vivado set up) from hardware conversion to an
out-of-context synthesis of the design for {settings.device} at {settings.clock_mhz:g} MHz,
and Vivado's power estimate; results land in `build/report/`.

- `{MODEL_FILE}`: the integer network (FINN-ONNX): input INT{policy.input_bits} (the quantized,
  normalized observation, padded from {policy.obs_dim} to a multiple of {settings.pad_multiple}), MatMul with integer weights and
  MultiThreshold requantization per hidden layer; the last layer streams its accumulators.
- `{OUTPUT_THRESHOLDS_FILE}`: the last layer's requantization, for the host: per action channel, the level is
  `out_min` plus the number of `thresholds` its accumulator reaches, and action = tanh(level * `output_step`).
- `{QONNX_FILE}`: the trained policy as Brevitas exported it (QONNX, float input).
- `{FOLDING_FILE}`: PE/SIMD and memory styles of the estimated design.
- `estimate.json`: what dse estimated for it: {report.luts:,} LUTs, {report.bram36:g} BRAM36,
  {report.latency_cycles} cycles latency, {report.throughput_fps:,.0f} actions/s.

| layer | rows x columns | PE | SIMD | weights |
|---|---|---|---|---|
{layers}
"""
