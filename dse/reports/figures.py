"""The plots of the reports (Pareto designs, hypervolume curves) and their Markdown tables."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from dse.reports.page import readable
from dse.reports.run_data import RunData
from objectives.pareto import REFERENCE_MARGIN, Normalization, hypervolume_history, losses
from synthesis.report import nanojoules

# plot axes in readable units
UNITS = {"luts": ("LUTs", 1.0), "latency_s": ("latency (us)", 1e6), "energy_j": ("energy per action (nJ)", 1e9)}


def design_table(designs: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Designs for reading, as every report page shows them: ``columns``, the folding as JSON (as in designs.csv:
    [[PE, SIMD], ...] per layer), latency in us and energy in nJ (the CSV files keep seconds and joules)."""
    table = designs[columns].copy()
    if "folding" in table:
        table["folding"] = table["folding"].map(json.dumps)
    if "latency_s" in table:
        table["latency_us"] = table.pop("latency_s") * 1e6
    if "energy_j" in table:
        table["energy_nJ"] = table.pop("energy_j") * 1e9
    return table


def _hover(frame: pd.DataFrame) -> list[str]:
    text = []
    for row in frame.itertuples():
        target = "" if pd.isna(row.target_fps) else f", target {row.target_fps:.0e}/s"
        text.append(
            f"#{row.number} w{row.width} core {row.core_bits}b in {row.input_bits}b out {row.output_bits}b{target}, "
            f"PE/SIMD {row.folding}<br>"
            f"return {row.mean_return:.1f} (margin {row.parity_margin:+.1f})<br>"
            f"{row.luts:,.0f} LUT, {row.bram36} BRAM36, {row.latency_s * 1e6:.2f} us, "
            f"{row.throughput_fps:,.0f} actions/s, {nanojoules(None if pd.isna(row.energy_j) else row.energy_j)}"
            + ("" if row.fits else f"<br>does not fit: {row.over}")
        )
    return text


DESIGN_MARKS = (
    ("below the FP32 band", dict(symbol="x", color="#9a9a9a", size=7)),
    ("does not fit the device (or misses the clock)", dict(symbol="square-open", color="#e69f00", size=7)),
    ("feasible", dict(symbol="circle", color="#1f77b4", size=8)),
    ("Pareto front", dict(symbol="star", color="#d62728", size=12)),
)
"""the marks of a design, by what keeps it off the front"""

PICK_MARK = dict(symbol="diamond-open", color="#2ca02c", size=16, line=dict(width=2))


def design_groups(designs: pd.DataFrame) -> list[pd.DataFrame]:
    """The designs by ``DESIGN_MARKS``: below the band, at parity but not fitting, feasible off the front, on it."""
    at_parity = pd.to_numeric(designs["parity_margin"], errors="coerce").fillna(-np.inf) >= 0
    feasible = designs["feasible"]
    return [designs[~feasible & ~at_parity], designs[~feasible & at_parity], designs[feasible & ~designs["pareto"]],
            designs[designs["pareto"]]]


def return_range(run: RunData) -> tuple[float, float] | None:
    """The y range of the Pareto plots: the FP32 band and every design at parity, padded; None without a band.

    A design far below the band (a return of -900 beside a band at 900) would otherwise squeeze the band to a line;
    such designs are drawn on the lower edge instead.
    """
    if run.band is None:
        return None
    returns = run.designs.loc[run.designs["mean_return"] >= run.band.lower, "mean_return"]
    low = min([run.band.lower - run.band.std, *returns])
    high = max([run.band.mean + run.band.std, *returns])
    pad = 0.06 * (high - low) or 1.0
    return low - pad, high + pad


def _clipped(frame: pd.DataFrame, marker: dict, bounds: tuple[float, float] | None) -> tuple[pd.Series, dict]:
    """Returns within ``bounds``, and the marker: points below the range sit on its edge as downward triangles."""
    if bounds is None:
        return frame["mean_return"], marker
    below = frame["mean_return"] < bounds[0]
    symbols = [f"triangle-down{'-open' if marker['symbol'].endswith('-open') else ''}" if flag else marker["symbol"]
               for flag in below]
    return frame["mean_return"].clip(lower=bounds[0]), marker | {"symbol": symbols}


def pareto_figure(run: RunData) -> go.Figure:
    """Return against LUTs, latency and energy of every design, marked by what keeps it off the front (``DESIGN_MARKS``);
    the staged rule's pick and the FP32 band drawn; designs far below the band on the lower edge."""
    designs = run.designs
    bounds = return_range(run)
    fig = make_subplots(rows=1, cols=len(run.objective_names) - 1, shared_yaxes=True, horizontal_spacing=0.04)
    groups = list(zip(DESIGN_MARKS, design_groups(designs)))
    if run.staged_pick is not None:
        pick = designs[designs[["width", "core_bits", "input_bits", "output_bits"]].eq(
            pd.Series(run.staged_pick.params())).all(axis=1)]
        groups.append(((f"staged rule's pick ({run.staged_pick.label})", PICK_MARK), pick))
    for column, name in enumerate(run.objective_names[1:], start=1):
        title, factor = UNITS[name]
        for (label, marker), frame in groups:
            returns, shown = _clipped(frame, marker, bounds)
            fig.add_trace(
                go.Scatter(
                    x=frame[name] * factor, y=returns, mode="markers", name=label, marker=shown,
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
    if bounds is not None:
        fig.update_yaxes(range=list(bounds))
    band = f"; FP32 band {run.band.mean:.1f} +- {run.band.std:.1f} (green)" if run.band else ""
    below = bounds is not None and bool((designs["mean_return"] < bounds[0]).any())
    clipped = "; designs below the plot on its lower edge (triangles)" if below else ""
    fig.update_layout(title=f"{run.name}: {run.settings.env_id}, {len(designs)} designs of {len(run.scored)} trained "
                            f"candidates{band}{clipped}", height=500, legend=dict(orientation="h", y=-0.22))
    return fig


def hypervolume_curve(run: RunData, normalization: Normalization) -> list[float]:
    """After each scored trial: the hypervolume of the front of every feasible design found so far."""
    feasible = run.designs[run.designs["feasible"]]
    batches = [losses(feasible.loc[feasible["number"] == number, list(run.objective_names)].to_numpy(dtype=float))
               for number in run.scored["number"]]  # fmt: skip
    return hypervolume_history(batches, normalization)


HYPERVOLUME_AXES = {"trials": "candidates trained", "trainings": "trainings spent", "env steps": "env steps spent in training"}
"""what a hypervolume curve can be drawn against, and its axis title"""


def hypervolume_figure(runs: list[RunData], normalization: Normalization, against: str = "trials") -> go.Figure:
    """Hypervolume of the feasible front found so far, against one of ``HYPERVOLUME_AXES``."""
    fig = go.Figure()
    for index, run in enumerate(runs):
        scored = run.scored
        if against == "trials":
            axis = np.arange(1, len(scored) + 1)
        elif against == "env steps" and run.settings.fidelity_rungs > 1:
            # every rung's training counts, also that of candidates stopped below the last rung
            axis = pd.to_numeric(scored["spent_env_steps"]).to_numpy()
        else:
            axis = run.own(scored, "trainings" if against == "trainings" else "env_steps").cumsum().to_numpy()
        fig.add_trace(go.Scatter(x=axis, y=hypervolume_curve(run, normalization), mode="lines+markers", name=run.name,
                                 line_shape="hv", line_color=study_colour(index)))
    fig.update_layout(
        title=f"hypervolume of the feasible front against {against} (of at most {normalization.maximum:.4f})",
        xaxis_title=HYPERVOLUME_AXES[against], yaxis_title="hypervolume", height=380,
    )
    return fig


def study_colour(index: int) -> str:
    """The colour of the ``index``-th study of a report, the same in every plot."""
    return qualitative.Plotly[index % len(qualitative.Plotly)]


def hypervolume_note(scope: str, names: tuple[str, ...]) -> str:
    """How a report's hypervolume is normalized, and its maximum; ``scope`` says over which designs, ``names`` the
    study's objectives."""
    count = {3: "three", 4: "four"}[len(names)]
    titles = ", ".join({"mean_return": "return", "luts": "LUTs", "latency_s": "latency", "energy_j": "energy"}[name]
                       for name in names)  # fmt: skip
    return (f"Hypervolume: of the feasible designs (every folding of every trained candidate), the {count} objectives "
            f"({titles}) each mapped to [0, 1] over {scope}, reference point "
            f"{1 + REFERENCE_MARGIN:g} in each, so at most {(1 + REFERENCE_MARGIN) ** len(names):.4f} (one "
            f"design best in all {count}). Values are comparable only under one normalization: a study's own report and "
            "dse compare normalize over different designs.")


def normalization_for(runs: list[RunData]) -> Normalization | None:
    """One scale for every run compared; None when no run has a feasible trial."""
    points = [run.feasible_losses() for run in runs if len(run.feasible)]
    return Normalization.fit(np.vstack(points)) if points else None


def markdown_table(frame: pd.DataFrame) -> str:
    """Floats to 4 significant digits; every other cell as written (a folding "1e5" stays text)."""
    return readable(frame).to_markdown(index=False, disable_numparse=True)


