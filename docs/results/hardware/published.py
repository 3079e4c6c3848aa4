"""The published designs under FINN's estimate, the hardware model (in sample and leave-one-out), yosys, and as published.

    .venv/bin/python docs/results/hardware/published.py [runs/published] [docs/results/hardware]

For each published shape (``synthesis/published_designs.json``): an untrained policy of
that shape and those bit widths (``training.export.untrained_policy_onnx``, seed 0; the
shape and bits decide the hardware), then

- FINN: FINN's analytical estimate (``--estimator finn``) at the published latency's
  folding (1e4 actions/s), and whether its own sweep finds any design that fits;
- model: the throughput sweep under the default settings (``--calibration vivado``), its
  chosen design, and what the next target's design is over (what stops the sweep);
- leave-one-out: the vivado calibration (block-RAM threshold, LUTs per stream bit, FF
  factor) and the power model fitted on the six other designs
  (``synthesis.calibration``'s ``vivado_fit`` and ``power_fit``), the yosys coefficients as
  committed (fitted on the grid, not on these); this design priced at its published
  folding, and its sweep run again under that calibration;
- yosys: the chosen folding generated as RTL and synthesized (``synthesis.yosys``),
  cached in RUNS/<design>/, against the ``yosys`` calibration;
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

from synthesis import calibration, devices, lower_qonnx, model, rtl, yosys
from synthesis.estimate import DEFAULT_TARGETS, SynthesisSettings, Synthesizer
from synthesis.lowering import IntegerPolicy
from synthesis.post_synth import design_name, folding_of, generate_rtl
from training.export import untrained_policy_onnx

PUBLISHED = calibration.PUBLISHED
PUBLISHED_TARGET = calibration.PUBLISHED_TARGET


def synthesized(policy, folding, settings: SynthesisSettings, folder: Path) -> dict:
    """yosys's counts and timing of the design (RTL as ``dse synth --post-synth`` generates it), cached in ``folder``."""
    cached = folder / "netlist.json"
    if cached.exists():
        data = json.loads(cached.read_text())
        if data.get("generator") == rtl.GENERATOR_VERSION:
            return data
    generate_rtl(policy, folding, settings, folder)
    netlist = yosys.synthesize(folder / "policy.v")
    data = dataclasses.asdict(netlist) | {"generator": rtl.GENERATOR_VERSION}
    cached.write_text(json.dumps(data, indent=1))
    return data


def over(price: model.Price, part: devices.Device) -> tuple[str, ...]:
    """What of the device a priced design exceeds, timing included."""
    return part.over(round(price.luts), round(price.ffs), price.bram36, price.dsps, price.critical_path_ns)


def sweep(policy, hardware: model.HardwareModel) -> list[tuple[float, list[tuple[int, int]], model.Price]]:
    """(target, folding, price under ``hardware``'s vivado calibration) of every target of the default sweep."""
    settings = SynthesisSettings()
    synthesizer = Synthesizer(policy, settings)
    found = []
    for target in DEFAULT_TARGETS:
        folding = synthesizer.folding_at(target)
        layers = model.placed(policy, folding, settings)
        found.append((target, folding, model.price(layers, hardware, "vivado", settings.part.bram36)))
    return found


def left_out(name: str, layers: dict[str, list], hardware: model.HardwareModel) -> tuple[model.HardwareModel, dict]:
    """The hardware model with the vivado calibration and power fitted without ``name``."""
    others = [other for other in PUBLISHED if other != name]
    fitted = calibration.vivado_fit(others, layers, hardware.luts, hardware.ffs)
    vivado = model.Calibration(**fitted, source=f"fitted without {name}")
    return dataclasses.replace(hardware, calibrations=hardware.calibrations | {"vivado": vivado}), calibration.power_fit(others)


def chosen_and_binding(designs: list, part: devices.Device) -> tuple[tuple | None, str]:
    """The highest target whose design fits, and what the next target's design is over."""
    fitting = [index for index, (_, _, price) in enumerate(designs) if not over(price, part)]
    if not fitting:
        return None, "; ".join(over(designs[0][2], part))
    index = fitting[-1]
    binding = "; ".join(over(designs[index + 1][2], part)) if index + 1 < len(designs) else "(fastest target)"
    return designs[index], binding


def row(name: str, design: dict, policy: IntegerPolicy, folder: Path, layers: dict[str, list]) -> dict:
    settings = SynthesisSettings()
    part = settings.part
    finn = Synthesizer(policy, SynthesisSettings(estimator="finn"))
    finn_published = finn.at_target(PUBLISHED_TARGET)
    hardware = model.hardware_model()
    started = time.perf_counter()
    reports, chosen = Synthesizer(policy, settings).sweep()
    seconds = (time.perf_counter() - started) / len(reports)
    (_, _, chosen_price), binding = chosen_and_binding(sweep(policy, hardware), part)
    loo_hardware, loo_power = left_out(name, layers, hardware)
    at_published = model.price(layers[name], loo_hardware, "vivado", part.bram36)
    loo_counts = {"luts": at_published.luts, "ffs": at_published.ffs, "bram36": at_published.bram36, "dsps": at_published.dsps}
    loo_chosen, loo_binding = chosen_and_binding(sweep(policy, loo_hardware), part)
    folding = folding_of(chosen)
    # PE and SIMD only: the vivado calibration's memory styles are a FINN build's, not this RTL's placement
    plain = {name: {key: entry[key] for key in ("PE", "SIMD")} for name, entry in chosen.folding().items() if name != "Defaults"}
    yosys_model = Synthesizer(policy, SynthesisSettings(calibration="yosys")).with_folding(plain)
    netlist = synthesized(policy, folding, SynthesisSettings(calibration="yosys"), folder / design_name(folding))
    latency_us = chosen.latency_s * 1e6
    published_latency = design["latency_us"]
    return {
        "design": name,
        "folding": design_name(folding),
        "model fits": chosen.fits,
        "FINN sweep fits": finn.sweep()[1] is not None,
        "latency us": round(latency_us, 1), "published latency us": published_latency,
        "latency ratio": round(latency_us / published_latency, 2),
        "next target over": binding,
        "LOO folding": design_name(loo_chosen[1]) if loo_chosen else "none fits",
        "LOO latency ratio": round(loo_chosen[2].latency_cycles / settings.clock_mhz / published_latency, 2) if loo_chosen else None,
        "LOO next target over": loo_binding,
        "FINN LUT": finn_published.luts, "model LUT": chosen.luts, "published LUT": design["luts"],
        "FINN/pub LUT": round(finn_published.luts / design["luts"], 2), "model/pub LUT": round(chosen.luts / design["luts"], 2),
        "LOO/pub LUT": round(at_published.luts / design["luts"], 2),
        "model FF": chosen.ffs, "published FF": design["ffs"], "model/pub FF": round(chosen.ffs / design["ffs"], 2),
        "LOO/pub FF": round(at_published.ffs / design["ffs"], 2),
        "FINN BRAM36": finn_published.bram36, "model BRAM36": chosen.bram36, "LOO BRAM36": at_published.bram36,
        "published BRAM36": design["bram36"],
        "FINN DSP": finn_published.dsps, "model DSP": chosen.dsps, "published DSP": design["dsps"],
        "FINN W": round(finn_published.power_w, 3), "model W": round(chosen.power_w, 3), "published W": design["power_w"],
        "model/pub W": round(chosen.power_w / design["power_w"], 2),
        "LOO W on pub counts / pub": round(calibration.power_of(design, loo_power) / design["power_w"], 2),
        "LOO W / pub": round(calibration.power_of(loo_counts, loo_power) / design["power_w"], 2),
        "model path ns": round(chosen_price.critical_path_ns, 2),
        "yosys-model LUT": yosys_model.luts, "yosys LUT": netlist["luts"], "yosys-model/yosys LUT": round(yosys_model.luts / netlist["luts"], 2),
        "yosys-model FF": yosys_model.ffs, "yosys FF": netlist["ffs"], "yosys-model/yosys FF": round(yosys_model.ffs / netlist["ffs"], 2),
        "yosys-model BRAM36": yosys_model.bram36, "yosys BRAM36": netlist["bram36"],
        "yosys-model DSP": yosys_model.dsps, "yosys DSP": netlist["dsps"],
        "yosys path ns": round(netlist["timing"]["delay_ns"], 2),
        "estimate s": round(seconds, 3),
    }  # fmt: skip


def main(runs: str = "runs/published", out: str = "docs/results/hardware") -> None:
    policies = {}
    for name, design in PUBLISHED.items():
        (Path(runs) / name).mkdir(parents=True, exist_ok=True)
        shape = [design[key] for key in ("obs", "actions", "width", "core_bits", "input_bits", "output_bits")]
        policies[name] = lower_qonnx(untrained_policy_onnx(Path(runs) / name / "policy.onnx", *shape))
    layers = calibration.published_layers(policies)
    frame = pd.DataFrame([row(name, design, policies[name], Path(runs) / name, layers) for name, design in PUBLISHED.items()])
    Path(out).mkdir(parents=True, exist_ok=True)
    frame.to_csv(Path(out) / "published.csv", index=False)
    tables = {
        "Chosen design and latency (default settings: model, vivado calibration, XC7A15T, 100 MHz)":
            ["design", "folding", "model fits", "FINN sweep fits", "latency us", "published latency us", "latency ratio",
             "next target over", "model path ns"],
        "Leave-one-out: the vivado calibration and power fitted on the six other designs":
            ["design", "LOO/pub LUT", "LOO/pub FF", "LOO BRAM36", "published BRAM36", "LOO W on pub counts / pub", "LOO W / pub",
             "LOO folding", "LOO latency ratio", "LOO next target over"],
        "LUTs and FFs: FINN's estimate at the published folding, the model (in sample), the published figures":
            ["design", "FINN LUT", "model LUT", "published LUT", "FINN/pub LUT", "model/pub LUT", "model FF", "published FF", "model/pub FF"],
        "BRAM36, DSP48E1 and power (in sample)":
            ["design", "FINN BRAM36", "model BRAM36", "published BRAM36", "FINN DSP", "model DSP", "published DSP",
             "FINN W", "model W", "published W", "model/pub W"],
        "The chosen folding under the yosys calibration, against yosys's synthesis of this project's RTL":
            ["design", "folding", "yosys-model LUT", "yosys LUT", "yosys-model/yosys LUT", "yosys-model FF", "yosys FF",
             "yosys-model/yosys FF", "yosys-model BRAM36", "yosys BRAM36", "yosys-model DSP", "yosys DSP", "yosys path ns",
             "estimate s"],
    }  # fmt: skip
    text = "\n".join(f"## {title}\n\n{frame[columns].to_markdown(index=False)}\n" for title, columns in tables.items())
    (Path(out) / "published.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main(*sys.argv[1:])
