"""The search against the staged rule: hypervolume at the staged rule's trainings and at half of them, per env.

    python docs/results/search-vs-staged/summarize.py RUNS [--out DIR]
    python docs/results/search-vs-staged/summarize.py --candidates STAGED_RUN

``RUNS`` holds one folder per env (``run.sh``), each with an ``every-candidate``
study (the whole space), a ``staged`` study and ``CONFIG-SEED`` studies. Per env,
every study's designs are normalized once (``dse.reports.figures.normalization_for`` over all
of that env's studies), and each study's hypervolume is read off its curve against
its own trainings: at the staged rule's trainings (a) and at half of them (b), the
hypervolume of the front of the designs of the candidates whose trainings fit in
that many; the whole space's is its final one. Writes results.md, results.csv and
studies.csv.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from dse.reports.figures import hypervolume_curve, markdown_table, normalization_for
from dse.reports.report import summary
from dse.reports.run_data import load_run

SPACE = "every-candidate"
"""the study that trained every candidate of the space: the most any strategy can find"""
REFERENCES = (SPACE, "staged")


def hypervolume_within(run, normalization, trainings: float) -> float:
    """The hypervolume after the last candidate whose cumulative own trainings are at most ``trainings``."""
    curve = hypervolume_curve(run, normalization)
    spent = run.own(run.scored, "trainings").cumsum().to_numpy()
    within = [value for value, used in zip(curve, spent) if used <= trainings]
    return within[-1] if within else 0.0


def env_rows(env_dir: Path) -> list[dict]:
    runs = {path.name: load_run(path) for path in sorted(env_dir.iterdir()) if (path / "run.json").exists()}
    staged = runs["staged"]
    normalization = normalization_for(list(runs.values()))
    full = staged.trainings
    rows = []
    for name, run in runs.items():
        facts = summary(run)
        rows.append({
            "env": run.settings.env_id,
            "study": name,
            "sampler": name if name in REFERENCES else name.rsplit("-", 1)[0],
            "candidates trained": facts["trials"],
            "trainings": run.trainings,
            "repeats": facts["repeats"],
            "fits nowhere": facts["fits_nowhere"],
            "feasible designs": facts["feasible_designs"],
            "front": facts["front"],
            "hv (a) staged trainings": hypervolume_within(run, normalization, run.trainings if name == SPACE else full),
            "hv (b) half": hypervolume_within(run, normalization, run.trainings if name == SPACE else full / 2),
        })
    return rows


def aggregate(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean and spread (sample std) over study seeds per env and sampler; ratios to the staged rule's hypervolume."""
    out = []
    for (env, sampler), group in rows.groupby(["env", "sampler"], sort=False):
        staged = rows[(rows["env"] == env) & (rows["sampler"] == "staged")]["hv (a) staged trainings"].iloc[0]
        record = {"env": env, "strategy": sampler, "studies": len(group), "trainings (a)": group["trainings"].mean()}
        for column, short in (("hv (a) staged trainings", "a"), ("hv (b) half", "b")):
            values = group[column].to_numpy()
            record[f"hv ({short}) mean"] = values.mean()
            record[f"hv ({short}) std"] = values.std(ddof=1) if len(values) > 1 else 0.0
            record[f"ratio ({short}) to staged"] = values.mean() / staged if staged > 0 else np.nan
        out.append(record)
    return pd.DataFrame(out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("runs", help="the folder run.sh writes, or with --candidates a staged study")
    parser.add_argument("--candidates", action="store_true", help="print the staged study's candidates trained and exit")
    parser.add_argument("--out", help="write results.md and results.csv here")
    args = parser.parse_args()
    if args.candidates:
        print(summary(load_run(args.runs))["trials"])
        return
    rows = pd.DataFrame([row for env_dir in sorted(Path(args.runs).iterdir()) if (env_dir / "staged").is_dir()
                         for row in env_rows(env_dir)])  # fmt: skip
    table = aggregate(rows)
    text = ("## Mean over study seeds (hypervolume normalized per env over all its studies)\n\n" + markdown_table(table)
            + "\n\n## Every study\n\n" + markdown_table(rows) + "\n")
    if args.out:
        Path(args.out, "results.md").write_text(text)
        rows.to_csv(Path(args.out, "studies.csv"), index=False)
        table.to_csv(Path(args.out, "results.csv"), index=False)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
