"""Variants of the default search against the staged rule on a table, paired by replicate: how a setting of the search
is chosen on one table and reported on another (README.md here).

Per replicate (which of the table's seeds play a study's 2 seeds, and the sampler's seed): the staged rule, then the
default search with each variant at the staged rule's number of candidates. Per variant: the mean hypervolume ratio
to the staged rule with a bootstrap 95% interval, as each study scores its front and as all of the table's seeds
score it (``compare.py``).

    .venv/bin/python docs/results/strategies/variants.py TABLE.json.gz [--replicates 30] [--out variants-ENV.csv]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from dse.reports.figures import hypervolume_curve, markdown_table, normalization_for
from dse.strategies import hypervolume
from dse.tabular.table import Table

sys.path.insert(0, str(Path(__file__).parent))
from compare import candidates_trained, interval, replay, true_hypervolume  # noqa: E402

UNRESTRICTED = {"GP_NOISE": "fitted", "Y_SCALE": "data", "KERNEL": "wide", "RETURN_FLOOR": None, "NEIGHBOURS": False}
"""the search before this selection: every candidate open, the model as it was"""
VARIANTS = {
    "unrestricted (previous default)": UNRESTRICTED,
    "unrestricted, bounded kernel, scale spread, floor 1": UNRESTRICTED | {"KERNEL": "bounded", "Y_SCALE": "spread",
                                                                           "RETURN_FLOOR": 1.0},
    "neighbours (default)": UNRESTRICTED | {"NEIGHBOURS": True},
    "neighbours, floor 1": UNRESTRICTED | {"NEIGHBOURS": True, "RETURN_FLOOR": 1.0},
    "neighbours, bounded kernel, scale spread, floor 1": UNRESTRICTED | {"NEIGHBOURS": True, "KERNEL": "bounded",
                                                                         "Y_SCALE": "spread", "RETURN_FLOOR": 1.0},
}
"""module settings of ``dse.strategies.hypervolume`` each variant replays with"""


def run(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("table", type=Path)
    parser.add_argument("--replicates", type=int, default=30)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    table = Table.load(args.table)
    work = Path(tempfile.mkdtemp(prefix="dse-variants-"))
    cache = work / "cache"
    truth = replay(args.table, work / "truth", ["--strategy", "random", "--budget", "1000", "--seeds", str(table.seeds),
                                                 "--replicate", "0"], cache)  # fmt: skip
    runs = {}
    for replicate in range(1, args.replicates + 1):
        common = ["--seeds", "2", "--replicate", str(replicate)]
        staged = replay(args.table, work / f"staged-{replicate}", ["--strategy", "staged", "--budget", "1000", *common], cache)
        runs[replicate, "staged"] = staged
        for number, (name, settings) in enumerate(VARIANTS.items()):
            saved = {key: getattr(hypervolume, key) for key in settings}
            for key, value in settings.items():
                setattr(hypervolume, key, value)
            try:
                folder = work / f"variant{number}-{replicate}"
                budget = ["--budget", str(candidates_trained(staged))]
                runs[replicate, name] = replay(args.table, folder, ["--strategy", "search", *budget, *common], cache)
            finally:
                for key, value in saved.items():
                    setattr(hypervolume, key, value)
    normalization = normalization_for([truth, *runs.values()])
    rows = []
    for name in VARIANTS:
        ratios, true_ratios = [], []
        for replicate in range(1, args.replicates + 1):  # a replicate whose staged rule found no front has no ratio
            run_, staged = runs[replicate, name], runs[replicate, "staged"]
            staged_hv = hypervolume_curve(staged, normalization)[-1] if len(staged.scored) else 0.0
            if staged_hv > 0:
                ratios.append(hypervolume_curve(run_, normalization)[-1] / staged_hv)
            staged_true = true_hypervolume(staged, table, normalization)
            if staged_true > 0:
                true_ratios.append(true_hypervolume(run_, table, normalization) / staged_true)
        (low, high), (true_low, true_high) = interval(np.array(ratios)), interval(np.array(true_ratios))
        rows.append({"env": table.env_id, "variant": name, "replicates": len(ratios),
                     "hv ratio to staged": np.mean(ratios), "95% interval": f"{low:.3f}..{high:.3f}",
                     "all-seed hv ratio": np.mean(true_ratios), "all-seed 95% interval": f"{true_low:.3f}..{true_high:.3f}"})  # fmt: skip
    shutil.rmtree(work, ignore_errors=True)
    frame = pd.DataFrame(rows)
    if args.out:
        frame.to_csv(args.out, index=False)
    print(markdown_table(frame))
    return frame


if __name__ == "__main__":
    run()
