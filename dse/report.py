"""A study's reports: trials as a table (CSV, Parquet), Pareto plots and hypervolume (HTML), a Markdown summary.

Everything is read back from the study's storage and the run folder, so a report
can be written at any time, also while the study runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

from dse.study import (
    BASELINE_FILE,
    INTERRUPTED,
    RECORD_COLUMNS,
    STAGED_PICK_ATTR,
    StudyInputError,
    StudySettings,
    candidate_of_row,
    open_study,
    storage_url,
    trial_record,
)
from objectives import OBJECTIVES, Fp32Band
from objectives.pareto import Normalization, hypervolume_history, losses, pareto_mask
from search_spaces import Candidate

MANIFEST = "run.json"
OBJECTIVE_NAMES = [objective.name for objective in OBJECTIVES]
# plot axes in readable units
UNITS = {"luts": ("LUTs", 1.0), "latency_s": ("latency (us)", 1e6), "energy_j": ("energy per action (nJ)", 1e9)}


@dataclass(frozen=True)
class RunData:
    """A study read back: its settings, one row per trial, its FP32 band and the staged rule's pick."""

    run_dir: Path
    name: str
    settings: StudySettings
    trials: pd.DataFrame
    band: Fp32Band | None
    baseline: dict
    staged_pick: Candidate | None

    @property
    def scored(self) -> pd.DataFrame:
        """Complete trials, in the order they were told."""
        return self.trials[self.trials["state"] == "COMPLETE"].sort_values("finished")

    @property
    def feasible(self) -> pd.DataFrame:
        scored = self.scored
        return scored[scored["feasible"].astype(bool)]

    @property
    def front(self) -> pd.DataFrame:
        return self.trials[self.trials["pareto"]]

    def scored_row(self, candidate: Candidate) -> pd.Series | None:
        """The latest scored trial of ``candidate`` (repeats of a candidate share its trainings and design)."""
        for _, row in self.scored.iloc[::-1].iterrows():
            if candidate_of_row(row) == candidate:
                return row
        return None

    def feasible_losses(self) -> np.ndarray:
        return losses(self.feasible[OBJECTIVE_NAMES].to_numpy(dtype=float))

    @property
    def trainings(self) -> int:
        return int(self.trials["new_trainings"].fillna(0).sum())

    @property
    def cpu_hours(self) -> float:
        return float(self.trials["train_cpu_seconds"].fillna(0).sum()) / 3600

    @property
    def env_steps(self) -> int:
        return int(self.trials["train_env_steps"].fillna(0).sum())


def read_manifest(run_dir: Path) -> dict:
    path = Path(run_dir) / MANIFEST
    if not path.exists():
        raise StudyInputError(f"{run_dir} is not a dse study folder: it has no {MANIFEST} (make one with dse run)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise StudyInputError(f"{path} is not valid JSON ({error})") from None


def open_run_study(run_dir: Path | str) -> optuna.Study:
    """The study of a study folder, from the storage its manifest names."""
    manifest = read_manifest(run_dir)
    return open_study(storage_url(Path(run_dir), manifest["storage"]), manifest["study_name"], create=False)


def load_run(run_dir: Path | str) -> RunData:
    """Read a study folder (its manifest, storage and baseline) back into records."""
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    study = open_run_study(run_dir)
    records = [trial_record(trial) for trial in study.get_trials(deepcopy=False)]
    frame = pd.DataFrame.from_records(records, columns=list(RECORD_COLUMNS))
    frame["feasible"] = frame["feasible"].astype("boolean").fillna(False).astype(bool)
    frame["pareto"] = False
    scored = (frame["state"] == "COMPLETE") & frame["feasible"]
    if scored.any():
        mask = pareto_mask(losses(frame.loc[scored, OBJECTIVE_NAMES].to_numpy(dtype=float)))
        frame.loc[frame.index[scored][mask], "pareto"] = True
    baseline = json.loads((run_dir / BASELINE_FILE).read_text()) if (run_dir / BASELINE_FILE).exists() else {}
    band = Fp32Band(baseline["mean"], baseline["std"], baseline["seeds"]) if baseline else None
    pick = study.user_attrs.get(STAGED_PICK_ATTR)
    return RunData(
        run_dir, run_dir.name, StudySettings.from_dict(manifest["settings"]), frame, band, baseline,
        Candidate(**pick) if pick else None,
    )


def _hover(frame: pd.DataFrame) -> list[str]:
    text = []
    for row in frame.itertuples():
        text.append(
            f"#{row.number} w{row.width} core {row.core_bits}b in {row.input_bits}b out {row.output_bits}b, folding {row.folding}<br>"
            f"return {row.mean_return:.1f} (margin {row.parity_margin:+.1f})<br>"
            f"{row.luts:,.0f} LUT, {row.bram36} BRAM36, {row.latency_s * 1e6:.2f} us, "
            f"{row.throughput_fps:,.0f} actions/s, {row.energy_j * 1e9:.1f} nJ"
            + ("" if row.fits else f"<br>does not fit: {row.over}")
        )
    return text


def pareto_figure(run: RunData) -> go.Figure:
    """Return against LUTs, latency and energy; infeasible, feasible and Pareto trials marked; FP32 band drawn."""
    scored = run.scored
    fig = make_subplots(rows=1, cols=3, shared_yaxes=True, horizontal_spacing=0.04)
    groups = (
        ("infeasible", scored[~scored["feasible"].astype(bool)], dict(symbol="x", color="#b0b0b0", size=7)),
        ("feasible", scored[scored["feasible"].astype(bool) & ~scored["pareto"]], dict(symbol="circle", color="#1f77b4", size=8)),
        ("Pareto front", scored[scored["pareto"]], dict(symbol="star", color="#d62728", size=12)),
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
    fig.update_layout(title=f"{run.name}: {run.settings.env_id}, {len(scored)} scored trials{band}", height=480)
    return fig


def hypervolume_curve(run: RunData, normalization: Normalization) -> list[float]:
    scored = run.scored
    return hypervolume_history(losses(scored[OBJECTIVE_NAMES].to_numpy(dtype=float)), scored["feasible"].to_numpy(), normalization)


HYPERVOLUME_AXES = {"trials": "trials told", "trainings": "trainings spent", "env steps": "env steps spent in training"}
"""what a hypervolume curve can be drawn against, and its axis title"""


def hypervolume_figure(runs: list[RunData], normalization: Normalization, against: str = "trials") -> go.Figure:
    """Hypervolume of the feasible front found so far, against one of ``HYPERVOLUME_AXES``."""
    fig = go.Figure()
    for run in runs:
        scored = run.scored
        if against == "trials":
            axis = np.arange(1, len(scored) + 1)
        else:
            column = "new_trainings" if against == "trainings" else "train_env_steps"
            axis = scored[column].fillna(0).cumsum().to_numpy()
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


FRONT_COLUMNS = ["number", "width", "core_bits", "input_bits", "output_bits", "folding", "mean_return", "parity_margin",
                 "luts", "ffs", "bram36", "latency_s", "throughput_fps", "energy_j", "power_w"]


def front_table(run: RunData) -> pd.DataFrame:
    front = run.front.sort_values("luts")[FRONT_COLUMNS].copy()
    front["latency_us"] = front.pop("latency_s") * 1e6
    front["energy_nJ"] = front.pop("energy_j") * 1e9
    return front


def hardware_description(settings) -> str:
    """The device and the estimate a study's designs were scored with, e.g. "xc7a15tfgg484-1 at 100 MHz, ..."."""
    synthesis = settings.synthesis
    estimator = synthesis.get("estimator", "finn")
    how = f"the hardware model, {synthesis.get('calibration', 'vivado')} calibration" if estimator == "model" else "FINN's estimate"
    return (f"{synthesis['device']} at {synthesis['clock_mhz']:g} MHz, resources from {how} "
            f"(hardware model version {settings.hardware_model_version})")


def summary(run: RunData) -> dict:
    trials = run.trials
    counted = trials[(trials["state"] == "COMPLETE") | ((trials["state"] == "FAIL") & (trials["fail_reason"] != INTERRUPTED))]
    return {
        "env": run.settings.env_id,
        "strategy": run.settings.strategy if run.settings.strategy != "search" else f"search ({run.settings.sampler})",
        "trials": len(counted),
        "failed": int((counted["state"] == "FAIL").sum()),
        "feasible": len(run.feasible),
        "front": len(run.front),
        "trainings": run.trainings,
        "cpu_hours": run.cpu_hours,
        "env_steps": run.env_steps,
        "baseline_trainings": run.baseline.get("trainings", 0),
        "early_stop": run.settings.early_stop,
    }


POST_SYNTH_COLUMNS = ["number", "width", "core_bits", "input_bits", "output_bits", "mean_return", "design",
                      "luts_estimate", "luts", "ffs", "bram36", "dsps", "latency_cycles_estimate", "latency_cycles",
                      "initiation_interval", "energy_nJ", "fits", "bit_exact", "lut_levels", "error"]


def post_synth_table(run: RunData, top: int | None, observations: int = 1000) -> pd.DataFrame:
    """The front's designs after synthesis (yosys) and simulation (Verilator), best return first, ``top`` of them.

    Each design is the trial's deployed policy with the folding its estimate chose,
    built in that policy's folder under ``rtl/``; a design whose tools fail gets its
    error in the row and the others go on.
    """
    from dse.deploy import rollout_observations
    from synthesis import lower_qonnx
    from synthesis.errors import ToolFailure
    from synthesis.estimate import SynthesisSettings
    from synthesis.post_synth import design_name, post_synthesize

    trials = {trial.number: trial for trial in open_run_study(run.run_dir).get_trials(deepcopy=False)}
    settings = SynthesisSettings(**run.settings.synthesis)
    front = run.front.sort_values("mean_return", ascending=False)
    rows = []
    for _, row in (front if top is None else front.head(top)).iterrows():
        attrs = trials[int(row["number"])].user_attrs
        policy_dir = Path(attrs["policy_dir"])
        folding = [(entry["PE"], entry["SIMD"]) for name, entry in attrs["folding_config"].items() if name != "Defaults"]
        record = {name: row[name] for name in ("number", "width", "core_bits", "input_bits", "output_bits", "mean_return")}
        record |= {"design": design_name(folding), "luts_estimate": row["luts"], "latency_cycles_estimate": row["latency_cycles"]}
        print(f"post-synthesis of trial {record['number']} ({record['design']}) ...", flush=True)
        try:
            policy = lower_qonnx(policy_dir / "policy.onnx")
            levels = policy.quantize_input(rollout_observations(policy_dir, observations))
            report = post_synthesize(policy, folding, settings, policy_dir / "rtl" / record["design"], levels)
        except ToolFailure as error:
            rows.append(record | {"error": f"design {record['design']}: {error}"})
            continue
        rows.append(record | {
            "luts": report.luts, "ffs": report.ffs, "bram36": report.bram36, "dsps": report.dsps,
            "latency_cycles": report.latency_cycles, "initiation_interval": report.initiation_interval,
            "energy_nJ": report.energy_per_action_j * 1e9, "fits": report.fits, "bit_exact": report.bit_exact,
            "lut_levels": report.lut_levels, "error": "",
        })
    return pd.DataFrame.from_records(rows, columns=POST_SYNTH_COLUMNS)


def write_report(run_dir: Path | str, post_synth: bool = False, top: int | None = None) -> Path:
    """reports/index.html, trials.csv, trials.parquet and summary.md of one study; returns the HTML's path.

    With ``post_synth``, the front's designs (the ``top`` best by return, or all) are
    also synthesized and simulated, and the report gets their table (post_synth.csv too).
    """
    run = load_run(run_dir)
    out = run.run_dir / "reports"
    out.mkdir(exist_ok=True)
    # list-valued columns as JSON text, so CSV and Parquet hold the same thing
    table = run.trials.assign(**{
        name: run.trials[name].map(lambda value: json.dumps(value) if value is not None else None)
        for name in ("seed_returns", "policy_dirs")
    })
    table.to_csv(out / "trials.csv", index=False)
    table.to_parquet(out / "trials.parquet", index=False)
    facts = summary(run)
    normalization = normalization_for([run])
    figures = [pareto_figure(run)]
    if normalization is not None:
        figures.append(hypervolume_figure([run], normalization))
    front = front_table(run)
    markdown = [f"# {run.name}: {facts['env']}, {facts['strategy']}", ""]
    if run.band is not None:
        markdown.append(f"FP32 band: {run.band.mean:.1f} +- {run.band.std:.1f} over {run.band.seeds} seeds, "
                        f"{run.baseline.get('spread', 'population std over seeds (ddof 0)')} "
                        f"({facts['baseline_trainings']} baseline trainings, not counted below).")
    markdown.append(f"Early stopping: {facts['early_stop']}"
                    + (" (the staged rule as published)." if facts["early_stop"] == "off" and run.settings.strategy == "staged"
                       else "."))
    markdown.append(f"Hardware: {hardware_description(run.settings)}.")
    markdown.append(f"Trials: {facts['trials']} ({facts['failed']} failed), feasible {facts['feasible']}, "
                    f"Pareto front {facts['front']}; trainings spent {facts['trainings']}, "
                    f"{facts['cpu_hours']:.2f} CPU-hours, {facts['env_steps']:,} env steps.")
    if run.staged_pick is not None:
        markdown.append(f"Staged rule's pick: {run.staged_pick.label}.")
    markdown += ["", "## Pareto set (feasible, non-dominated)", "",
                 markdown_table(front) if len(front) else "(no feasible trial yet)", ""]
    tables = [
        ("Summary", "<p>" + "<br>".join(markdown[2:-4]) + "</p>"),
        ("Pareto set", front.to_html(index=False, float_format=lambda v: f"{v:.4g}")),
    ]
    if post_synth:
        synthesized = post_synth_table(run, top)
        synthesized.to_csv(out / "post_synth.csv", index=False)
        note = ("Synthesized by yosys (synth_xilinx, out of context), latency and interval measured by Verilator "
                "on rollout observations; no timing (100 MHz assumed). The estimate columns are the study's "
                f"({hardware_description(run.settings)}).")
        markdown += ["## Front after synthesis", "", note, "",
                     markdown_table(synthesized) if len(synthesized) else "(no front yet)", ""]
        tables.append(("Front after synthesis", f"<p>{note}</p>" + synthesized.to_html(index=False, float_format=lambda v: f"{v:.4g}")))
    (out / "summary.md").write_text("\n".join(markdown))
    html = html_page(f"{run.name}: {facts['env']}", figures, tables)
    (out / "index.html").write_text(html)
    return out / "index.html"
