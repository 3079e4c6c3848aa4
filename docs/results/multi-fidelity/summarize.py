"""Multi-fidelity against full fidelity: final hypervolume and env steps, per env and study seed.

    python docs/results/multi-fidelity/summarize.py RUNS [--out DIR] [--name results]

``RUNS`` holds one folder per env (``run.sh``), each with ``full-SEED`` and
``rungs-SEED`` studies. Per env, every study's designs are normalized once
(``dse.reports.figures.normalization_for`` over all of that env's studies). For each seed:
the full-fidelity search's final hypervolume and env steps; the multi-fidelity
search's final hypervolume and env steps (every rung of every candidate, pruned ones
included), and its hypervolume once it had spent 40% of the full search's env steps
(the last candidate scored within that). Writes NAME.md and NAME.csv.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from dse.reports.figures import hypervolume_curve, markdown_table, normalization_for
from dse.reports.run_data import load_run

SHARE = 0.4
"""of the full-fidelity search's env steps, within which the multi-fidelity search should reach 95% of its hypervolume"""


def spent(run) -> list[float]:
    """The study's env steps when each scored trial was told (every rung under rungs; own env steps otherwise)."""
    scored = run.scored
    if run.settings.fidelity_rungs > 1:
        return pd.to_numeric(scored["spent_env_steps"]).tolist()
    return run.own(scored, "env_steps").cumsum().tolist()


def within(curve: list[float], steps: list[float], limit: float) -> float:
    values = [value for value, used in zip(curve, steps) if used <= limit]
    return values[-1] if values else 0.0


def env_rows(env_dir: Path) -> list[dict]:
    runs = {path.name: load_run(path) for path in sorted(env_dir.iterdir()) if (path / "run.json").exists()}
    normalization = normalization_for(list(runs.values()))
    rows = []
    for name, full in runs.items():
        if not name.startswith("full-"):
            continue
        seed = name.split("-", 1)[1]
        rungs = runs[f"rungs-{seed}"]
        full_curve, rung_curve = hypervolume_curve(full, normalization), hypervolume_curve(rungs, normalization)
        full_hv = full_curve[-1] if full_curve else 0.0
        rung_hv = rung_curve[-1] if rung_curve else 0.0
        rung_steps = spent(rungs)
        rows.append({
            "env": full.settings.env_id,
            "seed": int(seed),
            "full: candidates": len(full.scored),
            "full: env steps": full.env_steps,
            "full: hv": full_hv,
            "rungs: candidates started": len(rungs.trials[rungs.trials["rung_env_steps"].notna()]),
            "rungs: at last rung": len(rungs.scored),
            "rungs: env steps": rungs.env_steps,
            "rungs: hv": rung_hv,
            "env steps ratio": rungs.env_steps / full.env_steps,
            "hv ratio": rung_hv / full_hv if full_hv else float("nan"),
            f"hv ratio within {SHARE:.0%} of full's env steps":
                within(rung_curve, rung_steps, SHARE * full.env_steps) / full_hv if full_hv else float("nan"),
        })
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("runs", help="the folder run.sh writes")
    parser.add_argument("--out", help="write NAME.md and NAME.csv here")
    parser.add_argument("--name", default="results", help="the files' name (default results)")
    args = parser.parse_args()
    rows = pd.DataFrame([row for env_dir in sorted(Path(args.runs).iterdir()) if env_dir.is_dir() and env_dir.name != "cache"
                         for row in env_rows(env_dir)])  # fmt: skip
    means = rows.drop(columns="seed").groupby("env", sort=False).mean().reset_index()
    text = ("## Mean over study seeds (hypervolume normalized per env over all its studies)\n\n" + markdown_table(means)
            + "\n\n## Every study seed\n\n" + markdown_table(rows) + "\n")
    if args.out:
        Path(args.out, f"{args.name}.md").write_text(text)
        rows.to_csv(Path(args.out, f"{args.name}.csv"), index=False)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
