"""How far any seed-racing rule that keeps 95% confidence can go on a table: the seed-trainings it would spend if it
raced out exactly the candidates whose all-seed means lie off the front by more than its margin.

Every candidate is scored as the table scores it with all of its seeds (all-seed mean return, its best seed's
designs, parity against the all-seed FP32 band). After K of N seeds, a 95% one-sided rule cannot rule a candidate
out while its all-seed mean might be within z * s * sqrt((N - K) / (N K)) of what would put it on the front (s: one
seed's spread, pooled over candidates, as the sample std or, robust to failed seeds, as 1.4826 median absolute
deviations from each candidate's median). A candidate off the front is "out by a margin" when it misses parity by
more than that, or when for each of its designs a front design at least as cheap in LUTs, latency and energy
returns more than that much above it. Where the env's returns have a ceiling (several seeds at exactly the best
return, as ``dse.study.racing`` finds it), no bound needs to exceed it: the margin is then at most (N - K) / N of
the candidate's distance below the ceiling, and a candidate that far or farther off is out. The best such a rule
can spend is K seeds of every candidate and all N of the rest; an oracle that knew every all-seed mean would race
out every candidate off the front.

    .venv/bin/python docs/results/strategies/racing_limits.py docs/results/tabular/*.json.gz   # -> racing_limits.csv
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pandas as pd

from dse.reports.figures import markdown_table
from dse.study.racing import CEILING_SEEDS
from dse.tabular.table import Table
from objectives import Fp32Band
from objectives.parity import seed_std

Z = 1.645


def candidates(table: Table) -> dict[str, tuple[float, list[tuple[float, float, float]]]]:
    """Each candidate's all-seed mean return and the designs (LUTs, latency, energy) of its best seed that fit."""
    scored = {}
    for label, runs in table.candidates.items():
        returns = [float(np.mean(run.returns)) for run in runs]
        best = runs[int(np.argmax(returns))]
        designs = [(d["luts"], d["latency_s"], d["energy_per_action_j"]) for d in best.designs if d["fits"]]
        scored[label] = (float(np.mean(returns)), designs)
    return scored


def spreads(table: Table) -> dict[str, float]:
    """One seed's spread pooled over candidates: root mean sample variance, and 1.4826 x the median absolute
    deviation from each candidate's median."""
    returns = [np.array([np.mean(run.returns) for run in runs]) for runs in table.candidates.values()]
    deviations = np.concatenate([values - np.median(values) for values in returns])
    return {"sample std": math.sqrt(float(np.mean([seed_std(values) ** 2 for values in returns]))),
            "robust (MAD)": 1.4826 * float(np.median(np.abs(deviations)))}  # fmt: skip


def front_gaps(scored: dict, lower: float) -> tuple[set[str], dict[str, float]]:
    """The front (every candidate at parity, all designs), and for each candidate off it the return margin by which
    it is off: below parity by, or the least over its designs of how much more a front design covering it returns."""
    points = [(mean, *design, label) for label, (mean, designs) in scored.items() if mean >= lower for design in designs]

    def covers(a, b) -> bool:
        return a[0] >= b[0] and all(x <= y for x, y in zip(a[1:4], b[1:4]))

    front = {p[4] for p in points if not any(covers(q, p) and q[:4] != p[:4] for q in points)}
    gaps = {}
    for label, (mean, designs) in scored.items():
        if label in front:
            continue
        if mean < lower or not designs:
            gaps[label] = lower - mean if designs else math.inf
            continue
        covering = [[p[0] - mean for p in points if p[4] in front and all(x <= y for x, y in zip(p[1:4], design))]
                    for design in designs]  # fmt: skip
        gaps[label] = min(max(margins) if margins else -math.inf for margins in covering)
    return front, gaps


def limits(path: Path) -> list[dict]:
    table = Table.load(path)
    band = Fp32Band.from_seed_returns([float(np.mean(run.returns)) for run in table.baseline])
    scored = candidates(table)
    front, gaps = front_gaps(scored, band.lower)
    count, seeds = len(scored), table.seeds
    every_seed = np.array([np.mean(run.returns) for runs in (table.baseline, *table.candidates.values()) for run in runs])
    best = float(every_seed.max())
    ceiling = best if np.sum(every_seed >= best - 1e-9 * max(1.0, abs(best))) >= CEILING_SEEDS else None
    rows = []
    for name, spread in spreads(table).items():
        for first in (1, 2, 3):
            margin = Z * spread * math.sqrt((seeds - first) / (seeds * first))

            def needed(label: str) -> float:
                if ceiling is None:
                    return margin
                return min(margin, (seeds - first) / seeds * (ceiling - scored[label][0]))

            out = sum(gap >= needed(label) and gap > -math.inf for label, gap in gaps.items())
            rows.append({"env": table.env_id, "ceiling": ceiling, "spread": f"{name} {spread:.1f}", "K": first,
                         "margin": round(margin, 1),
                         "front": len(front), "out by the margin": f"{out} of {len(gaps)}",
                         "best seed-trainings / fixed N": round((first * count + (seeds - first) * (count - out)) / (seeds * count), 3),
                         "oracle": round((first * count + (seeds - first) * len(front)) / (seeds * count), 3)})  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tables", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("racing_limits.csv"))
    args = parser.parse_args()
    frame = pd.DataFrame([row for path in args.tables for row in limits(path)])
    frame.to_csv(args.out, index=False)
    print(markdown_table(frame))


if __name__ == "__main__":
    main()
