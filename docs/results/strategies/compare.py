"""Strategies against the staged rule on tabular benchmarks, with confidence intervals (README.md here).

For each table and each replicate R (which of the table's seeds play the studies' seeds, and the samplers' seed):
the staged rule, then every other strategy at the staged rule's number of candidates trained and at half of it, all
replayed on the same seeds (paired). Per strategy and budget: the hypervolume of its feasible front over the staged
rule's of the same replicate, its mean over replicates with a bootstrap 95% interval; the fraction of the table's
true front (the candidates on the front when every candidate is scored with all of the table's seeds) it trained;
and how often the staged rule's pick is the pick it makes with all of the table's seeds.

    .venv/bin/python docs/results/strategies/compare.py TABLE.json.gz... [--replicates 30] [--seeds 2] [--out DIR]
"""

from __future__ import annotations

import argparse
import re
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from dse.cli import main as dse
from dse.reports.figures import hypervolume_curve, markdown_table, normalization_for
from dse.reports.run_data import OBJECTIVE_NAMES, RunData, load_run
from dse.storage.trials import candidate_of_row
from dse.tabular.table import Table
from objectives import Fp32Band
from objectives.pareto import hypervolume_history, losses
from objectives.parity import parity

STRATEGIES = {
    "search (default)": ["--strategy", "search"],
    "search (tpe)": ["--strategy", "search", "--sampler", "tpe"],
    "random": ["--strategy", "random"],
    "search (seed racing)": ["--strategy", "search", "--seed-racing", "1"],
    "search (2 rungs)": ["--strategy", "search", "--fidelity-rungs", "2"],
    "search (2 rungs, within width)": ["--strategy", "search", "--fidelity-rungs", "2", "--fidelity-promotion", "within-width"],
}
"""each at its dse run defaults (early stopping included; off under rungs), against the staged rule; seed racing trains
1 of a candidate's seeds first (it needs --seeds 2 or more); under rungs the budget counts candidates started"""
BOOTSTRAP = 10_000
RACING_FIRST = (1, 2, 3)
"""the seeds a racing candidate trains first (K), against every candidate trained with all N of the table's seeds
(replicates draw their order); a K of N or more is left out"""
RACING_ORDERS = {"random, whole space": ["--strategy", "random"], "search (default)": ["--strategy", "search"]}
"""which candidates are trained, and in what order: all of them, or the default search's (at the staged rule's
number of candidates with all N seeds)"""


def replay(table: Path, out: Path, options: list[str], cache: Path) -> RunData:
    code = dse(["replay", str(table), "--out", str(out), "--cache", str(cache), *options])
    if code != 0:
        raise SystemExit(f"replay into {out} failed (exit {code})")
    return load_run(out)


def labels(frame: pd.DataFrame) -> list[str]:
    """The candidate label (as the table names it) of each report row."""
    return [candidate_of_row(row).label for _, row in frame.iterrows()]


def candidates_trained(run: RunData) -> int:
    return int((run.trials["outcome"] == "trained").sum())


def front_candidates(run: RunData) -> set[str]:
    return set(labels(run.front))


def trained_candidates(run: RunData) -> set[str]:
    scored = run.trials[run.trials["outcome"] == "trained"]
    return set(labels(scored))


def true_hypervolume(run: RunData, table: Table, normalization) -> float:
    """The hypervolume of a study's feasible designs as all of the table's seeds score them: each candidate's return
    its all-seed mean, and a design kept only where that candidate is at parity with the all-seed FP32 band; the
    hardware as the study priced it. A study's own figure uses its few seeds, which favours those that train fewer."""
    band = Fp32Band.from_seed_returns([float(np.mean(baseline.returns)) for baseline in table.baseline])
    seed_means = {label: [float(np.mean(one.returns)) for one in runs] for label, runs in table.candidates.items()}
    feasible = run.designs[run.designs["feasible"]].copy()
    candidates = labels(feasible)
    feasible["mean_return"] = [float(np.mean(seed_means[label])) for label in candidates]
    at_parity = [parity(seed_means[label], band).feasible for label in candidates]
    points = losses(feasible.loc[at_parity, OBJECTIVE_NAMES].to_numpy(dtype=float))
    return hypervolume_history([points], normalization)[-1]


def full_seed_candidates(run: RunData) -> set[str]:
    """Trained with every seed: not raced out."""
    scored = run.trials[(run.trials["outcome"] == "trained") & run.trials["raced_out"].isna()]
    return set(labels(scored))


def interval(values: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """A bootstrap 95% interval of the mean (percentile, resampling the replicates)."""
    rng = np.random.default_rng(seed)
    means = values[rng.integers(len(values), size=(BOOTSTRAP, len(values)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def table_rows(table_path: Path, replicates: int, seeds: int, work: Path) -> tuple[list[dict], dict]:
    """Every replicate's replays of one table: one row per (replicate, strategy, budget); and the table's facts."""
    table = Table.load(table_path)
    cache = work / "cache"
    every_seed = ["--seeds", str(table.seeds), "--replicate", "0"]
    truth = replay(table_path, work / "truth", ["--strategy", "random", "--budget", "1000", *every_seed], cache)
    staged_all = replay(table_path, work / "staged-all", ["--strategy", "staged", "--budget", "1000", *every_seed], cache)
    rows, runs = [], {}
    started = time.perf_counter()
    for replicate in range(1, replicates + 1):
        common = ["--seeds", str(seeds), "--replicate", str(replicate)]
        staged = replay(table_path, work / f"staged-{replicate}", ["--strategy", "staged", "--budget", "1000", *common], cache)
        budget = candidates_trained(staged)
        runs[(replicate, "staged", "equal")] = staged
        for name, options in STRATEGIES.items():
            for label, size in (("equal", budget), ("half", max(1, budget // 2))):
                folder = work / f"{re.sub('[^a-z0-9]+', '-', name).strip('-')}-{label}-{replicate}"
                runs[(replicate, name, label)] = replay(table_path, folder, [*options, "--budget", str(size), *common], cache)
    seconds = time.perf_counter() - started
    normalization = normalization_for([truth, *runs.values()])
    true_front = front_candidates(truth)
    for (replicate, name, label), run in runs.items():
        staged = runs[(replicate, "staged", "equal")]
        hv, staged_hv = (hypervolume_curve(one, normalization)[-1] if len(one.scored) else 0.0 for one in (run, staged))
        true_hv, staged_true_hv = (true_hypervolume(one, table, normalization) for one in (run, staged))
        rows.append({
            "env": table.env_id, "replicate": replicate, "strategy": name, "budget": label,
            "candidates": candidates_trained(run), "trainings": run.trainings, "env_steps": run.env_steps,
            "env_steps_ratio": run.env_steps / staged.env_steps if staged.env_steps else np.nan, "hypervolume": hv, "ratio": hv / staged_hv if staged_hv else np.nan,
            "true_ratio": true_hv / staged_true_hv if staged_true_hv else np.nan,
            "true_front_recovered": len(true_front & trained_candidates(run)) / len(true_front) if true_front else np.nan,
            "staged_pick_as_all_seeds": None if name != "staged" else
            run.staged_pick is not None and run.staged_pick == staged_all.staged_pick,
        })
    racing = racing_rows(table_path, table, replicates, work, cache, candidates_trained(staged_all))
    facts = {"env": table.env_id, "seeds": table.seeds, "candidates": len(table.candidates), "true_front": len(true_front),
             "staged_pick_all_seeds": staged_all.staged_pick.label if staged_all.staged_pick else None,
             "replay_seconds": seconds, "replays": len(runs)}
    return rows + racing, facts


def racing_rows(table_path: Path, table: Table, replicates: int, work: Path, cache: Path, budget: int) -> list[dict]:
    """Seed racing against fixed N seeds on one table: the seed-trainings each spends and the share of the true front
    it ends with every seed trained, per replicate (the order of the table's seeds and the sampler's seed).

    A replicate's true front is that of every candidate trained with all N seeds in the replicate's seed order (the
    fixed-N run over the whole space): a candidate deploys its best seed, the first of those that tie (on
    InvertedPendulum, most seeds return exactly 1,000), and seeds of one candidate differ by up to a tenth in LUTs, so
    the order decides some of the front; racing and fixed N share it."""
    rows = []
    for replicate in range(1, replicates + 1):
        common = ["--seeds", str(table.seeds), "--replicate", str(replicate)]
        true_front: set[str] = set()
        for order, options in RACING_ORDERS.items():
            size = len(table.candidates) if order.startswith("random") else budget
            rules = {"fixed N": []} | {f"racing K={first}": ["--seed-racing", str(first)] for first in RACING_FIRST
                                        if first < table.seeds}
            for name, racing in rules.items():
                folder = work / f"racing-{re.sub('[^a-z0-9]+', '-', order + ' ' + name).strip('-')}-{replicate}"
                run = replay(table_path, folder, [*options, *racing, "--budget", str(size), *common], cache)
                if order.startswith("random") and name == "fixed N":
                    true_front = front_candidates(run)
                rows.append({"env": table.env_id, "replicate": replicate, "strategy": f"{name} ({order})",
                             "budget": f"N={table.seeds}", "candidates": candidates_trained(run), "trainings": run.trainings,
                             "true_front_recovered": len(true_front & full_seed_candidates(run)) / len(true_front)
                             if true_front else np.nan})
    return rows


def summarize(rows: pd.DataFrame) -> pd.DataFrame:
    out = []
    for (env, name, label), group in rows.groupby(["env", "strategy", "budget"], sort=False):
        ratios = group["ratio"].dropna().to_numpy(dtype=float)
        low, high = interval(ratios) if len(ratios) else (np.nan, np.nan)
        true = group["true_ratio"].dropna().to_numpy(dtype=float)
        true_low, true_high = interval(true) if len(true) else (np.nan, np.nan)
        picks = group["staged_pick_as_all_seeds"].dropna()
        out.append({"env": env, "strategy": name, "budget": label, "replicates": len(group),
                    "trainings": group["trainings"].mean(), "env steps / staged": group["env_steps_ratio"].mean(),
                    "hv ratio to staged": ratios.mean() if len(ratios) else np.nan, "95% low": low, "95% high": high,
                    "all-seed hv ratio": true.mean() if len(true) else np.nan, "all-seed 95% low": true_low,
                    "all-seed 95% high": true_high,
                    "true front recovered": group["true_front_recovered"].mean(),
                    "staged pick = all-seed pick": picks.astype(bool).mean() if len(picks) else np.nan})  # fmt: skip
    return pd.DataFrame(out)


def racing_summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Per table, order and K: racing's seed-trainings and true-front recovery over fixed N's, paired by replicate."""
    out = []
    racing = rows[rows["budget"].astype(str).str.startswith("N=")]
    for (env, order), group in racing.groupby(["env", racing["strategy"].str.extract(r"\((.*)\)")[0]], sort=False):
        fixed = group[group["strategy"].str.startswith("fixed")].set_index("replicate")
        for name, raced in group[~group["strategy"].str.startswith("fixed")].groupby("strategy", sort=False):
            raced = raced.set_index("replicate")
            spent = (raced["trainings"] / fixed["trainings"]).to_numpy(dtype=float)
            # a replicate where fixed N recovers none of the true front has no ratio
            kept = (raced["true_front_recovered"] / fixed["true_front_recovered"]).replace(np.inf, np.nan).dropna()
            kept = kept.to_numpy(dtype=float)
            (spent_low, spent_high), (kept_low, kept_high) = interval(spent), interval(kept)
            out.append({"env": env, "order": order, "rule": name.split(" (")[0], "replicates": len(raced),
                        "seed-trainings / fixed N": spent.mean(), "95% interval (trainings)": f"{spent_low:.3f}..{spent_high:.3f}",
                        "true-front recovery / fixed N": kept.mean(), "95% interval (recovery)": f"{kept_low:.3f}..{kept_high:.3f}"})
    return pd.DataFrame(out)


def run(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tables", nargs="+", type=Path)
    parser.add_argument("--replicates", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=2, help="training seeds of each replayed study (default 2)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent)
    parser.add_argument("--work", type=Path, help="where the replayed run folders go (default: a temporary folder)")
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="dse-strategies-"))
    rows, facts = [], []
    for table in args.tables:
        table_rows_, table_facts = table_rows(table, args.replicates, args.seeds, work / table.name.split(".")[0])
        rows += table_rows_
        facts.append(table_facts)
    frame = pd.DataFrame(rows)
    summary = summarize(frame[~frame["budget"].astype(str).str.startswith("N=")])
    racing = racing_summary(frame)
    args.out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out / "replicates.csv", index=False)
    summary.to_csv(args.out / "results.csv", index=False)
    racing.to_csv(args.out / "racing.csv", index=False)
    (args.out / "results.md").write_text(
        f"# Strategies against the staged rule ({args.replicates} replicates, {args.seeds} seeds per study)\n\n"
        + markdown_table(pd.DataFrame(facts)) + "\n\n" + markdown_table(summary) + "\n\n## Seed racing against fixed N\n\n"
        + markdown_table(racing) + "\n")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    print(markdown_table(summary))
    print(markdown_table(racing))
    return summary


if __name__ == "__main__":
    run()
