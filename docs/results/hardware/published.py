"""The published designs under FINN's estimate, the hardware model (both calibrations), yosys, and as published.

    .venv/bin/python docs/results/hardware/published.py [runs/published] [docs/results/hardware]

For each published shape (``synthesis/published_designs.json``): an untrained policy of
that shape and those bit widths (``training.export.untrained_policy_onnx``, seed 0; the
shape and bits decide the hardware), then

- FINN: FINN's analytical estimate (``--estimator finn``, what studies scored before the
  model) at the published latency's folding (1e4 actions/s), and whether its own sweep
  finds any design that fits;
- model: the throughput sweep under the default settings (``--calibration vivado``), its
  chosen design, and the same folding priced with ``--calibration yosys``;
- yosys: that folding generated as RTL and synthesized (``synthesis.yosys``), cached in
  RUNS/<design>/;
- published: the Vivado post-synthesis figures.

Writes OUT/published.md and OUT/published.csv.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

import pandas as pd

from synthesis import lower_qonnx, model, yosys
from synthesis.estimate import SynthesisSettings, Synthesizer
from synthesis.post_synth import design_name, folding_of, generate_rtl
from training.export import untrained_policy_onnx

PUBLISHED = model.published_designs()
PUBLISHED_TARGET = 1e4


def synthesized(policy, folding, settings: SynthesisSettings, folder: Path) -> dict:
    """yosys's counts of the design (RTL as ``dse synth --post-synth`` generates it), cached in ``folder``."""
    cached = folder / "netlist.json"
    if cached.exists():
        return json.loads(cached.read_text())
    generate_rtl(policy, folding, settings, folder)
    netlist = dataclasses.asdict(yosys.synthesize(folder / "policy.v"))
    cached.write_text(json.dumps(netlist, indent=1))
    return netlist


def row(name: str, design: dict, runs: Path) -> dict:
    folder = runs / name
    folder.mkdir(parents=True, exist_ok=True)
    shape = [design[key] for key in ("obs", "actions", "width", "core_bits", "input_bits", "output_bits")]
    policy = lower_qonnx(untrained_policy_onnx(folder / "policy.onnx", *shape))
    finn = Synthesizer(policy, SynthesisSettings(estimator="finn"))
    finn_published = finn.at_target(PUBLISHED_TARGET)
    finn_chosen = finn.sweep()[1]
    vivado = Synthesizer(policy, SynthesisSettings())
    started = time.perf_counter()
    reports, chosen = vivado.sweep()
    seconds = (time.perf_counter() - started) / len(reports)
    folding = folding_of(chosen)
    yosys_model = Synthesizer(policy, SynthesisSettings(calibration="yosys")).with_folding(chosen.folding())
    netlist = synthesized(policy, folding, SynthesisSettings(calibration="yosys"), folder / design_name(folding))
    latency_us = chosen.latency_s * 1e6
    return {
        "design": name,
        "folding": design_name(folding),
        "FINN sweep fits": finn_chosen is not None,
        "latency us": round(latency_us, 1), "published latency us": design["latency_us"],
        "latency ratio": round(latency_us / design["latency_us"], 2),
        "FINN LUT": finn_published.luts, "model LUT": chosen.luts, "published LUT": design["luts"],
        "FINN/pub LUT": round(finn_published.luts / design["luts"], 2), "model/pub LUT": round(chosen.luts / design["luts"], 2),
        "model FF": chosen.ffs, "published FF": design["ffs"], "model/pub FF": round(chosen.ffs / design["ffs"], 2),
        "FINN BRAM36": finn_published.bram36, "model BRAM36": chosen.bram36, "published BRAM36": design["bram36"],
        "FINN DSP": finn_published.dsps, "model DSP": chosen.dsps, "published DSP": design["dsps"],
        "FINN W": round(finn_published.power_w, 3), "model W": round(chosen.power_w, 3), "published W": design["power_w"],
        "model/pub W": round(chosen.power_w / design["power_w"], 2),
        "model fits": chosen.fits,
        "yosys-model LUT": yosys_model.luts, "yosys LUT": netlist["luts"], "yosys-model/yosys LUT": round(yosys_model.luts / netlist["luts"], 2),
        "yosys-model FF": yosys_model.ffs, "yosys FF": netlist["ffs"], "yosys-model/yosys FF": round(yosys_model.ffs / netlist["ffs"], 2),
        "yosys-model BRAM36": yosys_model.bram36, "yosys BRAM36": netlist["bram36"],
        "yosys-model DSP": yosys_model.dsps, "yosys DSP": netlist["dsps"],
        "estimate s": round(seconds, 3),
    }  # fmt: skip


def main(runs: str = "runs/published", out: str = "docs/results/hardware") -> None:
    frame = pd.DataFrame([row(name, design, Path(runs)) for name, design in PUBLISHED.items()])
    Path(out).mkdir(parents=True, exist_ok=True)
    frame.to_csv(Path(out) / "published.csv", index=False)
    tables = {
        "Chosen design and latency (default settings: model, vivado calibration, XC7A15T, 100 MHz)":
            ["design", "folding", "model fits", "FINN sweep fits", "latency us", "published latency us", "latency ratio"],
        "LUTs and FFs: FINN's estimate at the published folding, the model, the published figures":
            ["design", "FINN LUT", "model LUT", "published LUT", "FINN/pub LUT", "model/pub LUT", "model FF", "published FF", "model/pub FF"],
        "BRAM36, DSP48E1 and power":
            ["design", "FINN BRAM36", "model BRAM36", "published BRAM36", "FINN DSP", "model DSP", "published DSP",
             "FINN W", "model W", "published W", "model/pub W"],
        "The same folding under the yosys calibration, against yosys's synthesis of it":
            ["design", "folding", "yosys-model LUT", "yosys LUT", "yosys-model/yosys LUT", "yosys-model FF", "yosys FF",
             "yosys-model/yosys FF", "yosys-model BRAM36", "yosys BRAM36", "yosys-model DSP", "yosys DSP", "estimate s"],
    }  # fmt: skip
    text = "\n".join(f"## {title}\n\n{frame[columns].to_markdown(index=False)}\n" for title, columns in tables.items())
    (Path(out) / "published.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main(*sys.argv[1:])
