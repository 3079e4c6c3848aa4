"""Strategies side by side: hypervolume per trial and per training, cross-dominance of fronts, the staged pick.

Each study is charged its own trainings: every candidate it trained times its
seeds, also where a shared cache (``--cache``) held a training another study made,
so two studies sharing a cache are compared at the compute each would have spent alone.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dse.reports.figures import (
    HYPERVOLUME_AXES,
    html_page,
    hypervolume_curve,
    hypervolume_figure,
    markdown_table,
    normalization_for,
)
from dse.reports.run_data import OBJECTIVE_NAMES, RunData, load_run
from dse.storage.settings import StudyInputError
from objectives.pareto import dominated_by_front, losses


def _front_losses(run: RunData) -> np.ndarray:
    return losses(run.front[OBJECTIVE_NAMES].to_numpy(dtype=float))


def pick_row(run: RunData) -> pd.Series | None:
    """The scored trial of the staged rule's pick, if the run has one."""
    return None if run.staged_pick is None else run.scored_row(run.staged_pick)


def comparison(runs: list[RunData]) -> pd.DataFrame:
    """One row per run: compute spent, feasible count, hypervolume on a common scale, dominance by the others."""
    if len({run.settings.env_id for run in runs}) > 1:
        envs = ", ".join(f"{run.name}: {run.settings.env_id}" for run in runs)
        raise StudyInputError(f"studies of different envs cannot be compared ({envs})")
    normalization = normalization_for(runs)
    rows = []
    for run in runs:
        curve = hypervolume_curve(run, normalization) if normalization is not None else []
        row = {
            "study": run.name,
            "strategy": run.settings.strategy if run.settings.strategy != "search" else f"search ({run.settings.sampler})",
            "candidates trained": len(run.scored),
            "trainings": run.trainings,
            "trained here": run.new_trainings,
            "cpu_hours": round(run.cpu_hours, 3),
            "env_steps": run.env_steps,
            "feasible": len(run.feasible),
            "designs": len(run.designs),
            "front": len(run.front),
            "hypervolume": curve[-1] if curve else 0.0,
        }
        mine = _front_losses(run)
        for other in runs:
            if other is run:
                continue
            theirs = _front_losses(other)
            dominated = sum(dominated_by_front(point, theirs) for point in mine)
            row[f"front points dominated by {other.name}"] = f"{dominated}/{len(mine)}"
        pick = pick_row(run)
        if pick is not None:
            row["staged pick"] = run.staged_pick.label
            point = losses(pick[OBJECTIVE_NAMES].to_numpy(dtype=float))[0]
            for other in runs:
                if other is not run:
                    row[f"pick dominated by {other.name}"] = "yes" if dominated_by_front(point, _front_losses(other)) else "no"
        rows.append(row)
    return pd.DataFrame(rows).fillna("")


def fronts_figure(runs: list[RunData]) -> go.Figure:
    fig = go.Figure()
    for run in runs:
        front = run.front.sort_values("luts")
        fig.add_trace(go.Scatter(x=front["luts"], y=front["mean_return"], mode="markers+lines", name=f"{run.name} front",
                                 text=[f"#{n}" for n in front["number"]], line_shape="hv"))
        pick = pick_row(run)
        if pick is not None:
            fig.add_trace(go.Scatter(x=[pick["luts"]], y=[pick["mean_return"]], mode="markers", name=f"{run.name} staged pick",
                                     marker=dict(symbol="diamond", size=14, line=dict(width=2))))
    fig.update_layout(title="Pareto fronts (return vs LUTs projection) and the staged rule's pick",
                      xaxis_title="LUTs", xaxis_type="log", yaxis_title="mean return", height=420)
    return fig


def write_comparison(run_dirs: list[Path | str], out: Path | str) -> tuple[Path, Path]:
    """compare.html and compare.md in ``out``."""
    runs = [load_run(run_dir) for run_dir in run_dirs]
    table = comparison(runs)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    normalization = normalization_for(runs)
    figures = [fronts_figure(runs)]
    if normalization is not None:
        figures += [hypervolume_figure(runs, normalization, against) for against in HYPERVOLUME_AXES]
    title = " vs ".join(run.name for run in runs)
    (out / "compare.html").write_text(html_page(title, figures, [("Side by side", table.to_html(index=False))]))
    note = ("Hypervolume: feasible designs only (every folding of every trained candidate), the four objectives (return, "
            "LUTs, latency, energy) normalized to [0, 1] over every feasible design of the studies compared, reference "
            "point 1.1 in each. Trainings: each study's own (candidates trained x seeds, also those a shared cache held); "
            "trained here: those its runs computed.")
    (out / "compare.md").write_text(f"# {title}\n\n{markdown_table(table)}\n\n{note}\n")
    return out / "compare.html", out / "compare.md"
