"""The report of a sensitivity sweep (``dse.strategies.sweep``): return against the swept axis, with the FP32 band."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from dse.reports.page import Section, write_page, write_table
from dse.reports.run_data import load_run
from dse.storage.settings import StudyInputError
from dse.strategies.sweep import swept_axis


def sweep_table(run_dir: Path | str) -> tuple[pd.DataFrame, str]:
    """One row per swept candidate, in sweep order: its x value, return mean and std over seeds, parity."""
    run = load_run(run_dir)
    candidates = run.settings.sweep
    if not candidates:
        raise StudyInputError(f"{run_dir} is not a sweep study (it was made by dse run --strategy {run.settings.strategy})")
    axis = swept_axis(candidates)
    rows = []
    for candidate in candidates:
        trial = run.scored_row(candidate)
        x = candidate.width if axis == "width" else {"input": candidate.input_bits, "output": candidate.output_bits}.get(axis, candidate.core_bits)
        row = {"x": x, "label": candidate.label, "mean_return": None, "return_std": None, "seeds": run.settings.seeds,
               "parity_margin": None, "parity": None, "luts": None}
        if trial is not None:
            row.update(mean_return=trial["mean_return"], return_std=trial["return_std"], parity_margin=trial["parity_margin"],
                       parity=bool(trial["parity_feasible"]), luts=trial["luts"])
        rows.append(row)
    table = pd.DataFrame(rows)
    if run.band is not None:
        table["fp32_mean"], table["fp32_std"] = run.band.mean, run.band.std
    return table, axis


def sweep_figure(table: pd.DataFrame, axis: str, title: str) -> go.Figure:
    fig = go.Figure()
    if "fp32_mean" in table:
        mean, std = table["fp32_mean"].iloc[0], table["fp32_std"].iloc[0]
        fig.add_hrect(y0=mean - std, y1=mean + std, fillcolor="green", opacity=0.12, line_width=0)
        fig.add_hline(y=mean, line_dash="dot", line_color="green", annotation_text="FP32 mean +- std")
    done = table.dropna(subset=["mean_return"])
    fig.add_trace(go.Scatter(
        x=done["x"], y=done["mean_return"], error_y=dict(type="data", array=done["return_std"]), mode="lines+markers",
        marker=dict(size=10, color=["#2ca02c" if ok else "#d62728" for ok in done["parity"]]),
        text=[f"{label}: parity margin {margin:+.1f}" for label, margin in zip(done["label"], done["parity_margin"])],
        name="quantized (mean +- std over seeds; green: parity)",
    ))
    fig.update_layout(title=title, xaxis_title="hidden width" if axis == "width" else f"{axis} bits",
                      yaxis_title="mean return", height=450)
    if axis == "width":
        fig.update_xaxes(type="log", tickvals=list(done["x"]))
    return fig


def write_sweep_report(run_dir: Path | str) -> Path:
    """reports/sweep.html and reports/sweep.csv of a sweep study."""
    run_dir = Path(run_dir)
    table, axis = sweep_table(run_dir)
    out = run_dir / "reports"
    out.mkdir(exist_ok=True)
    write_table(table, out / "sweep.csv")
    settings = load_run(run_dir).settings
    title = f"{settings.env_id}: return against {'width' if axis == 'width' else axis + ' bits'} ({settings.seeds} seeds)"
    return write_page(out / "sweep.html", title, [sweep_figure(table, axis, title)], [Section("Points", table=table)])
