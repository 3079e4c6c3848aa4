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
    design_table,
    hypervolume_curve,
    hypervolume_figure,
    hypervolume_note,
    markdown_table,
    normalization_for,
    study_colour,
)
from dse.reports.page import Section, write_page, write_text
from dse.reports.run_data import RunData, load_run
from dse.storage.settings import StudyInputError
from objectives.pareto import Normalization, dominated_by_front, hypervolume, losses, pareto_mask

EXCLUSIVE_COLUMNS = ["number", "width", "core_bits", "input_bits", "output_bits", "target_fps", "mean_return", "luts",
                     "latency_s", "energy_j"]


def _front_losses(run: RunData) -> np.ndarray:
    return losses(run.front[list(run.objective_names)].to_numpy(dtype=float))


def _other_fronts(run: RunData, runs: list[RunData]) -> np.ndarray:
    return np.vstack([_front_losses(run), *(_front_losses(each) for each in runs if each is not run)])[len(run.front):]


def pick_row(run: RunData) -> pd.Series | None:
    """The scored trial of the staged rule's pick, if the run has one."""
    return None if run.staged_pick is None else run.scored_row(run.staged_pick)


def exclusive_hypervolume(run: RunData, runs: list[RunData], normalization: Normalization) -> float:
    """The part of the studies' joint hypervolume that only ``run``'s front covers: what the others lose without it."""
    others = _other_fronts(run, runs)
    return hypervolume(np.vstack([_front_losses(run), others]), normalization) - hypervolume(others, normalization)


def exclusive_points(run: RunData, runs: list[RunData]) -> pd.DataFrame:
    """``run``'s front designs that no other study's front dominates or equals: those carry its exclusive hypervolume."""
    others = _other_fronts(run, runs)
    front = run.front.reset_index(drop=True)
    mine = _front_losses(run)
    keep = [not (dominated_by_front(point, others) or any(np.array_equal(point, other) for other in others))
            for point in mine]
    return front[np.asarray(keep, dtype=bool)]


def comparison(runs: list[RunData]) -> pd.DataFrame:
    """One row per run: compute spent, feasible count, hypervolume on a common scale and the part only it covers,
    dominance by the others."""
    if len({run.settings.env_id for run in runs}) > 1:
        envs = ", ".join(f"{run.name}: {run.settings.env_id}" for run in runs)
        raise StudyInputError(f"studies of different envs cannot be compared ({envs})")
    if len({run.objective_names for run in runs}) > 1:
        kinds = ", ".join(f"{run.name}: {', '.join(run.objective_names)}" for run in runs)
        raise StudyInputError(f"studies of different objectives cannot be compared ({kinds}); energy is not estimated "
                              "on a Lattice part")  # fmt: skip
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
            "exclusive hypervolume": exclusive_hypervolume(run, runs, normalization) if normalization is not None else 0.0,
            "front points no other front reaches": len(exclusive_points(run, runs)),
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
            point = losses(pick[list(run.objective_names)].to_numpy(dtype=float))[0]
            for other in runs:
                if other is not run:
                    row[f"pick dominated by {other.name}"] = "yes" if dominated_by_front(point, _front_losses(other)) else "no"
        rows.append(row)
    return pd.DataFrame(rows).fillna("")


def fronts_figure(runs: list[RunData]) -> go.Figure:
    """Each study's front designs as points in the return-LUTs plane, the staircase of that plane's own front through
    them (the 4-objective front projected is not a front), and the staged rule's pick; one colour per study."""
    fig = go.Figure()
    for index, run in enumerate(runs):
        colour = study_colour(index)
        front = run.front.sort_values("luts")
        fig.add_trace(go.Scatter(x=front["luts"], y=front["mean_return"], mode="markers", name=f"{run.name}: front designs",
                                 text=[f"#{n}" for n in front["number"]], marker=dict(color=colour, size=8, opacity=0.6),
                                 legendgroup=run.name))
        plane = front[pareto_mask(losses(front[["mean_return", "luts"]].to_numpy(dtype=float), ("maximize", "minimize")))]
        fig.add_trace(go.Scatter(x=plane["luts"], y=plane["mean_return"], mode="lines", line_shape="hv",
                                 name=f"{run.name}: front of this plane", line=dict(color=colour), legendgroup=run.name))
        pick = pick_row(run)
        if pick is not None:
            fig.add_trace(go.Scatter(x=[pick["luts"]], y=[pick["mean_return"]], mode="markers",
                                     name=f"{run.name}: the staged rule's pick", legendgroup=run.name,
                                     marker=dict(symbol="diamond-open", size=16, color=colour, line=dict(width=2))))
    fig.update_layout(title="front designs in the return-LUTs plane, that plane's front, and the staged rule's pick",
                      xaxis_title="LUTs", xaxis_type="log", yaxis_title="mean return", height=440)
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
    notes = [hypervolume_note("every feasible design of the studies compared", runs[0].objective_names),
             "Exclusive hypervolume: the part of the studies' joint hypervolume only this study's front covers (the "
             "joint hypervolume less that of the others' fronts); the front points no other front dominates or equals "
             "carry it, listed below.",
             "Trainings: each study's own (candidates trained x seeds, also those a shared cache held); trained here: "
             "those its runs computed."]
    exclusive = [(run.name, design_table(exclusive_points(run, runs), EXCLUSIVE_COLUMNS)) for run in runs] if len(runs) > 1 else []
    sections = [Section("Side by side", notes, table)]
    sections += [Section(f"{name}: front points no other front reaches", table=points) for name, points in exclusive]
    write_page(out / "compare.html", title, figures, sections)
    markdown = [f"# {title}", "", markdown_table(table), "", *(f"{note}\n" for note in notes)]
    for name, points in exclusive:
        markdown += [f"## {name}: front points no other front reaches", "",
                     markdown_table(points) if len(points) else "(none)", ""]
    write_text(out / "compare.md", "\n".join(markdown))
    return out / "compare.html", out / "compare.md"
