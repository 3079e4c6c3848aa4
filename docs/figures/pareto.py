"""Draw a finished study's designs and Pareto front into a small PNG (docs/figures/pareto.png).

    .venv/bin/python docs/figures/pareto.py runs/quickstart docs/figures/pareto.png

Reads what `dse report RUN` wrote: RUN/reports/designs.csv (one row per design of every
trained candidate: mean_return, luts, latency_s, feasible, pareto) and the FP32 band in
RUN/baseline.json. Return against LUTs and against latency; the front's designs are stars.
"""

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402


def truth(column: pd.Series) -> pd.Series:
    return column.astype(str).str.lower().eq("true")


def main(run: str, out: str) -> None:
    run_dir = Path(run)
    designs = pd.read_csv(run_dir / "reports" / "designs.csv")
    feasible, front = truth(designs["feasible"]), truth(designs["pareto"])
    designs["latency_us"] = designs["latency_s"] * 1e6
    baseline = json.loads((run_dir / "baseline.json").read_text())
    manifest = json.loads((run_dir / "run.json").read_text())
    env = manifest["settings"]["env_id"]

    fig, axes = plt.subplots(1, 2, figsize=(9, 4), dpi=100, sharey=True)
    for ax, (column, label) in zip(axes, [("luts", "LUTs"), ("latency_us", "latency (us)")]):
        ax.axhspan(baseline["mean"] - baseline["std"], baseline["mean"] + baseline["std"], color="0.85", zorder=0,
                   label=f"FP32 band ({baseline['seeds']} seeds)")
        ax.scatter(designs.loc[~feasible, column], designs.loc[~feasible, "mean_return"], marker="x", color="0.45",
                   s=30, label="infeasible")
        rest = feasible & ~front
        ax.scatter(designs.loc[rest, column], designs.loc[rest, "mean_return"], marker="o", color="#1f77b4", s=25,
                   label="feasible")
        ax.scatter(designs.loc[front, column], designs.loc[front, "mean_return"], marker="*", color="#d62728", s=110,
                   edgecolor="black", linewidth=0.5, label="Pareto front", zorder=3)
        ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel("mean return (integer network)")
    axes[0].legend(loc="center right", bbox_to_anchor=(1.0, 0.55), fontsize=8)
    fig.suptitle(f"{run_dir.name}: {env}, {len(designs)} designs, {int(feasible.sum())} feasible, "
                 f"{int(front.sum())} on the front (front over return, LUTs, latency, energy)", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=100)


if __name__ == "__main__":
    main(*(sys.argv[1:3] if len(sys.argv) >= 3 else ["runs/quickstart", "docs/figures/pareto.png"]))
