"""The plots of the reports (Pareto designs, hypervolume curves), the self-contained HTML page and Markdown tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

from dse.reports.run_data import OBJECTIVE_NAMES, RunData
from objectives.pareto import Normalization, hypervolume_history, losses

# plot axes in readable units
UNITS = {"luts": ("LUTs", 1.0), "latency_s": ("latency (us)", 1e6), "energy_j": ("energy per action (nJ)", 1e9)}


def _hover(frame: pd.DataFrame) -> list[str]:
    text = []
    for row in frame.itertuples():
        target = "" if pd.isna(row.target_fps) else f", target {row.target_fps:.0e}/s"
        text.append(
            f"#{row.number} w{row.width} core {row.core_bits}b in {row.input_bits}b out {row.output_bits}b{target}, "
            f"PE/SIMD {row.folding}<br>"
            f"return {row.mean_return:.1f} (margin {row.parity_margin:+.1f})<br>"
            f"{row.luts:,.0f} LUT, {row.bram36} BRAM36, {row.latency_s * 1e6:.2f} us, "
            f"{row.throughput_fps:,.0f} actions/s, {row.energy_j * 1e9:.1f} nJ"
            + ("" if row.fits else f"<br>does not fit: {row.over}")
        )
    return text


def pareto_figure(run: RunData) -> go.Figure:
    """Return against LUTs, latency and energy of every design; infeasible, feasible and Pareto designs marked; FP32 band drawn."""
    designs = run.designs
    fig = make_subplots(rows=1, cols=3, shared_yaxes=True, horizontal_spacing=0.04)
    groups = (
        ("infeasible", designs[~designs["feasible"]], dict(symbol="x", color="#b0b0b0", size=7)),
        ("feasible", designs[designs["feasible"] & ~designs["pareto"]], dict(symbol="circle", color="#1f77b4", size=8)),
        ("Pareto front", designs[designs["pareto"]], dict(symbol="star", color="#d62728", size=12)),
    )
    for column, name in enumerate(("luts", "latency_s", "energy_j"), start=1):
        title, factor = UNITS[name]
        for label, frame, marker in groups:
            fig.add_trace(
                go.Scatter(
                    x=frame[name] * factor, y=frame["mean_return"], mode="markers", name=label, marker=marker,
                    text=_hover(frame), hoverinfo="text", legendgroup=label, showlegend=column == 1,
                ),
                row=1, col=column,
            )
        fig.update_xaxes(title_text=title, type="log", row=1, col=column)
        if run.band is not None:
            fig.add_hrect(y0=run.band.lower, y1=run.band.mean + run.band.std, fillcolor="green", opacity=0.12,
                          line_width=0, row=1, col=column)
            fig.add_hline(y=run.band.mean, line_dash="dot", line_color="green", row=1, col=column)
    fig.update_yaxes(title_text="mean return", row=1, col=1)
    band = f"; FP32 band {run.band.mean:.1f} +- {run.band.std:.1f} (green)" if run.band else ""
    fig.update_layout(title=f"{run.name}: {run.settings.env_id}, {len(designs)} designs of {len(run.scored)} trained "
                            f"candidates{band}", height=480)
    return fig


def hypervolume_curve(run: RunData, normalization: Normalization) -> list[float]:
    """After each scored trial: the hypervolume of the front of every feasible design found so far."""
    feasible = run.designs[run.designs["feasible"]]
    batches = [losses(feasible.loc[feasible["number"] == number, OBJECTIVE_NAMES].to_numpy(dtype=float))
               for number in run.scored["number"]]  # fmt: skip
    return hypervolume_history(batches, normalization)


HYPERVOLUME_AXES = {"trials": "candidates trained", "trainings": "trainings spent", "env steps": "env steps spent in training"}
"""what a hypervolume curve can be drawn against, and its axis title"""


def hypervolume_figure(runs: list[RunData], normalization: Normalization, against: str = "trials") -> go.Figure:
    """Hypervolume of the feasible front found so far, against one of ``HYPERVOLUME_AXES``."""
    fig = go.Figure()
    for run in runs:
        scored = run.scored
        if against == "trials":
            axis = np.arange(1, len(scored) + 1)
        elif against == "env steps" and run.settings.fidelity_rungs > 1:
            # every rung's training counts, also that of candidates stopped below the last rung
            axis = pd.to_numeric(scored["spent_env_steps"]).to_numpy()
        else:
            axis = run.own(scored, "trainings" if against == "trainings" else "env_steps").cumsum().to_numpy()
        fig.add_trace(go.Scatter(x=axis, y=hypervolume_curve(run, normalization), mode="lines+markers", name=run.name, line_shape="hv"))
    fig.update_layout(
        title=f"hypervolume of the feasible front against {against} (objectives normalized over all points shown)",
        xaxis_title=HYPERVOLUME_AXES[against], yaxis_title="hypervolume", height=380,
    )
    return fig


def normalization_for(runs: list[RunData]) -> Normalization | None:
    """One scale for every run compared; None when no run has a feasible trial."""
    points = [run.feasible_losses() for run in runs if len(run.feasible)]
    return Normalization.fit(np.vstack(points)) if points else None


def html_page(title: str, figures: list[go.Figure], tables: list[tuple[str, str]]) -> str:
    """One self-contained page (plotly.js inlined once, so it opens offline)."""
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title>",
             ("<style>body{font-family:sans-serif;margin:2em} table{border-collapse:collapse;font-size:13px}"
              " td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}</style></head><body>"),
             f"<h1>{title}</h1>"]
    for index, figure in enumerate(figures):
        parts.append(pio.to_html(figure, full_html=False, include_plotlyjs=index == 0))
    for heading, table in tables:
        parts.append(f"<h2>{heading}</h2>{table}")
    parts.append("</body></html>")
    return "\n".join(parts)


def markdown_table(frame: pd.DataFrame) -> str:
    """Floats to 4 significant digits; every other cell as written (a folding "1e5" stays text)."""
    cells = frame.map(lambda value: f"{value:.4g}" if isinstance(value, float) else value)
    return cells.to_markdown(index=False, disable_numparse=True)


