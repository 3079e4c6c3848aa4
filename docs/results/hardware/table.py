"""FINN estimate, yosys synthesis and the published post-synthesis figures side by side.

    python docs/results/hardware/table.py RUNS OUT

Reads each run's ``synth.json`` (FINN's estimate of the design) and ``post_synth.json``
(the same design generated as RTL, synthesized by yosys, simulated by Verilator), and
writes OUT/table.md and OUT/table.csv. The published figures are Vivado post-synthesis
results on the XC7A15T at 100 MHz, for the same network shapes and bit widths.
"""

import json
import sys
from pathlib import Path

import pandas as pd

from synthesis.model import published_designs

#: run name -> the published figures (LUTs, FFs, BRAM36, DSPs, latency in us, power in W)
PUBLISHED = published_designs()


def ratio(value, reference):
    return round(value / reference, 2) if reference else None


def row(run: Path) -> dict:
    estimate = json.loads((run / "synth.json").read_text())
    post = json.loads((run / "post_synth.json").read_text())["chosen"]
    by_folding = {
        tuple((layer["pe"], layer["simd"]) for layer in design["layers"] if layer["pe"]): design
        for design in estimate["designs"]
    }
    finn = by_folding[tuple(tuple(pair) for pair in post["folding"])]
    config = json.loads((run / "config.json").read_text())["spec"]
    policy = config["policy"]
    record = {
        "design": run.name,
        "env": config["env_id"],
        "width": policy["width"],
        "bits (core/in/out)": f"{policy['core_bits']}/{policy['input_bits']}/{policy['output_bits']}",
        "folding (PExSIMD)": "-".join(f"{pe}x{simd}" for pe, simd in post["folding"]),
        "FINN LUT": finn["luts"],
        "FINN BRAM36": finn["bram36"],
        "FINN DSP": finn["dsps"],
        "FINN cycles": finn["latency_cycles"],
        "yosys LUT": post["luts"],
        "yosys FF": post["ffs"],
        "yosys BRAM36": post["bram36"],
        "yosys DSP": post["dsps"],
        "sim cycles": post["latency_cycles"],
        "sim - FINN cycles": post["latency_cycles"] - finn["latency_cycles"],
        "sim interval": post["initiation_interval"],
        "LUT levels": post["lut_levels"],
        "path ns": round(post["critical_path_ns"], 2),
        "bit-exact": f"{post['observations'] - post['mismatches']}/{post['observations']}",
        "fits": post["fits"],
        "synthesis s": round(post["synthesis_seconds"], 1),
    }
    published = PUBLISHED.get(run.name)
    if published:
        luts, ffs, bram36, dsps = published["luts"], published["ffs"], published["bram36"], published["dsps"]
        cycles = round(published["latency_us"] * 100)
        record |= {
            "published LUT": luts, "published FF": ffs, "published BRAM36": bram36, "published DSP": dsps,
            "published cycles": cycles,
            "FINN/pub LUT": ratio(finn["luts"], luts), "yosys/pub LUT": ratio(post["luts"], luts),
            "yosys/pub FF": ratio(post["ffs"], ffs),
            "FINN/pub BRAM": ratio(finn["bram36"], bram36), "yosys/pub BRAM": ratio(post["bram36"], bram36),
            "FINN/pub DSP": ratio(finn["dsps"], dsps), "yosys/pub DSP": ratio(post["dsps"], dsps),
            "FINN/pub cycles": ratio(finn["latency_cycles"], cycles), "yosys/pub cycles": ratio(post["latency_cycles"], cycles),
        }  # fmt: skip
    return record


def main(runs: str, out: str) -> None:
    folders = sorted(path.parent for path in Path(runs).glob("*/post_synth.json"))
    order = list(PUBLISHED)
    folders.sort(key=lambda path: (order.index(path.name) if path.name in order else len(order), path.name))
    frame = pd.DataFrame([row(folder) for folder in folders])
    Path(out).mkdir(parents=True, exist_ok=True)
    frame.to_csv(Path(out) / "table.csv", index=False)
    figures = ["LUT", "BRAM36", "DSP"]
    resources = frame[["design", "folding (PExSIMD)", *(f"{source} {name}" for name in figures for source in ("FINN", "yosys", "published")),
                       "yosys FF", "published FF", "fits"]]
    ratios = frame[["design", "FINN/pub LUT", "yosys/pub LUT", "yosys/pub FF",
                    *(f"{source}/pub {name}" for name in ("BRAM", "DSP", "cycles") for source in ("FINN", "yosys"))]]
    ratios = ratios.rename(columns={"yosys/pub cycles": "sim/pub cycles"}).dropna(subset=["FINN/pub LUT"])
    timing = frame[["design", "FINN cycles", "sim cycles", "sim - FINN cycles", "published cycles", "sim interval",
                    "bit-exact", "LUT levels", "path ns", "synthesis s"]]
    text = "\n".join(
        f"## {title}\n\n{table.to_markdown(index=False)}\n"
        for title, table in (("Resources", resources), ("Ratios to the published figures", ratios),
                             ("Cycles, exactness, estimated longest path, synthesis time", timing))
    )
    (Path(out) / "table.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main(*sys.argv[1:])
