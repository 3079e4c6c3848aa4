"""Fit LUT and FF coefficients of ``synthesis.model``'s terms to the synthesized grid; measure them on designs held out.

    .venv/bin/python docs/results/hardware/calibration/fit.py [runs/hardware-grid | GRID.jsonl.gz] [OUT] [runs/hardware]

Every fourth design (by its name's hash) is held out of the fit; the trained policies'
designs of ``docs/results/hardware`` (runs/hardware) are a second check. Read from the
grid's folder, the records are also copied to OUT/grid.jsonl.gz, which this script reads as well. Coefficients are
non-negative least squares (a term never lowers the count), on relative error so
small designs weigh as much as large ones. Writes OUT/fit.json (coefficients, the
designs of each part, the errors) and OUT/fit.md, and prints the errors.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import numpy as np
from scipy.optimize import nnls

from synthesis import lower_qonnx, model, rtl


def held_out(name: str) -> bool:
    return int(name, 16) % 4 == 0


def fit(records: list[dict], terms: tuple[str, ...], target: str) -> dict[str, float]:
    matrix = np.array([[model.features(record)[term] for term in terms] for record in records])
    values = np.array([record[target] for record in records], dtype=float)
    # divide each row by its value: least squares on relative error
    coefficients, _ = nnls(matrix / values[:, None], np.ones(len(values)))
    return dict(zip(terms, coefficients.tolist()))


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


def published_comparison(records: list[dict], lut_coefficients: dict, ff_coefficients: dict) -> dict:
    """The model's LUTs and FFs of the published shapes (trained here) against the published Vivado figures.

    ``factor`` is the one constant that puts every LUT ratio nearest 1 (the geometric middle of the extremes):
    what a ``vivado`` calibration on top of the yosys-fitted model would multiply by.
    """
    published = json.loads(Path(__file__).parent.parent.joinpath("published.json").read_text())["designs"]
    rows = {}
    for record in records:
        if record["name"] in published:
            figures = published[record["name"]]
            rows[record["name"]] = {
                "luts": predict(record, lut_coefficients) / figures["luts"], "ffs": predict(record, ff_coefficients) / figures["ffs"],
            }
    if not rows:
        return {}
    lut_ratios = [row["luts"] for row in rows.values()]
    factor = 1 / float(np.sqrt(min(lut_ratios) * max(lut_ratios)))
    return {"ratios": rows, "lut_factor": factor,
            "lut_spread_after_factor": float(np.sqrt(max(lut_ratios) / min(lut_ratios)))}


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
    result["published"] = published_comparison(trained_records, result["luts"]["coefficients"], result["ffs"]["coefficients"])
    result["held_out_designs"] = [record["name"] for record in testing]
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
    if result["published"]:
        lines += ["", "Model (fitted on yosys) / published Vivado figures, per published shape:", "",
                  "| design | LUT | FF |", "|---|---|---|"]
        lines += [f"| {name} | {row['luts']:.2f} | {row['ffs']:.2f} |" for name, row in result["published"]["ratios"].items()]
        lines += ["", f"One LUT factor of {result['published']['lut_factor']:.2f} would put every published LUT ratio within "
                      f"{result['published']['lut_spread_after_factor']:.2f}x of 1."]
    lines += ["", "Coefficients (LUTs or FFs per unit of each term of `synthesis.model.features`):", ""]
    for target in ("luts", "ffs"):
        lines.append(f"- {target}: " + ", ".join(f"{term} {value:.4g}" for term, value in result[target]["coefficients"].items()))
    Path(out, "fit.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main(*sys.argv[1:])
