"""A study's reports: trials and designs as tables (CSV, Parquet), Pareto plots and hypervolume (HTML), a Markdown summary.

Everything is read back from the study's storage and the run folder, so a report
can be written at any time, also while the study runs. A trained candidate has a
design per distinct folding (``dse.scoring``); the front is over every design of
every trained candidate, whichever strategy trained it.
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

from dse import credentials
from dse.study import (
    BASELINE_FILE,
    PARAMS,
    RECORD_COLUMNS,
    STAGED_PICK_ATTR,
    StudyInputError,
    StudySettings,
    candidate_of,
    candidate_of_row,
    counts_toward_budget,
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


DESIGN_COLUMNS = (
    "number", *PARAMS, "target_fps", "mean_return", "parity_margin", *(objective.name for objective in OBJECTIVES[1:]),
    "ffs", "bram36", "dsps", "latency_cycles", "throughput_fps", "power_w", "fits", "over", "feasible", "chosen",
    "folding", "finished",
)
"""one row per design of a trained candidate"""


@dataclass(frozen=True)
class RunData:
    """A study read back: its settings, one row per trial and per design, its FP32 band and the staged rule's pick."""

    run_dir: Path
    name: str
    settings: StudySettings
    trials: pd.DataFrame
    designs: pd.DataFrame
    """every design of every scored trial (DESIGN_COLUMNS), with a ``pareto`` column"""
    band: Fp32Band | None
    baseline: dict
    staged_pick: Candidate | None

    @property
    def scored(self) -> pd.DataFrame:
        """Complete trials of trained candidates (not repeats), in the order they were told."""
        trials = self.trials
        return trials[(trials["state"] == "COMPLETE") & (trials["outcome"] == "trained")].sort_values("finished")

    @property
    def feasible(self) -> pd.DataFrame:
        """Scored trials with a feasible design."""
        scored = self.scored
        return scored[scored["feasible"].astype(bool)]

    @property
    def front(self) -> pd.DataFrame:
        """The non-dominated feasible designs."""
        return self.designs[self.designs["pareto"]]

    def scored_row(self, candidate: Candidate) -> pd.Series | None:
        """The latest scored trial of ``candidate`` (a study that trained it twice, before repeats were answered from the
        study, has two)."""
        for _, row in self.scored.iloc[::-1].iterrows():
            if candidate_of_row(row) == candidate:
                return row
        return None

    def feasible_losses(self) -> np.ndarray:
        """Loss vectors of every feasible design."""
        return losses(self.designs[self.designs["feasible"]][OBJECTIVE_NAMES].to_numpy(dtype=float))

    def own(self, frame: pd.DataFrame, column: str) -> pd.Series:
        """Per trial, the trainings (``"trainings"``) or env steps (``"env_steps"``) it used, wherever they were trained.

        Trials made before this was recorded used what they trained.
        """
        trained_here = {"trainings": "new_trainings", "env_steps": "train_env_steps"}[column]
        used, trained = (pd.to_numeric(frame[name], errors="coerce") for name in (column, trained_here))
        return used.fillna(trained).fillna(0)

    @property
    def trainings(self) -> int:
        """The study's own trainings: every candidate it trained times its seeds, also those the cache held."""
        return int(self.own(self.trials, "trainings").sum())

    @property
    def new_trainings(self) -> int:
        """Trainings this study's runs computed (the rest came from the cache)."""
        return int(self.trials["new_trainings"].fillna(0).sum())

    @property
    def cpu_hours(self) -> float:
        return float(pd.to_numeric(self.trials["train_cpu_seconds"], errors="coerce").fillna(0).sum()) / 3600

    @property
    def env_steps(self) -> int:
        return int(self.own(self.trials, "env_steps").sum())


def read_manifest(run_dir: Path) -> dict:
    path = Path(run_dir) / MANIFEST
    if not path.exists():
        raise StudyInputError(f"{run_dir} is not a dse study folder: it has no {MANIFEST} (make one with dse run)")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise StudyInputError(f"{path} is not valid JSON ({error})") from None
    return credentials.clean_manifest(manifest, path)


def open_run_study(run_dir: Path | str) -> optuna.Study:
    """The study of a study folder, from the storage its manifest names."""
    manifest = read_manifest(run_dir)
    return open_study(storage_url(Path(run_dir), manifest["storage"]), manifest["study_name"], create=False)


def load_run(run_dir: Path | str) -> RunData:
    """Read a study folder (its manifest, storage and baseline) back into records."""
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    study = open_run_study(run_dir)
    trials = study.get_trials(deepcopy=False)
    frame = pd.DataFrame.from_records([trial_record(trial) for trial in trials], columns=list(RECORD_COLUMNS))
    frame["feasible"] = frame["feasible"].astype("boolean").fillna(False).astype(bool)
    designs = pd.DataFrame.from_records(
        [row for trial in trials if trial.state == optuna.trial.TrialState.COMPLETE and counts_toward_budget(trial)
         for row in design_rows(trial)],
        columns=list(DESIGN_COLUMNS),
    )  # fmt: skip
    designs["feasible"] = designs["feasible"].astype(bool)
    designs["pareto"] = False
    if designs["feasible"].any():
        mask = pareto_mask(losses(designs.loc[designs["feasible"], OBJECTIVE_NAMES].to_numpy(dtype=float)))
        designs.loc[designs.index[designs["feasible"]][mask], "pareto"] = True
    baseline = json.loads((run_dir / BASELINE_FILE).read_text()) if (run_dir / BASELINE_FILE).exists() else {}
    band = Fp32Band(baseline["mean"], baseline["std"], baseline["seeds"]) if baseline else None
    pick = study.user_attrs.get(STAGED_PICK_ATTR)
    return RunData(
        run_dir, run_dir.name, StudySettings.from_dict(manifest["settings"]), frame, designs, band, baseline,
        Candidate(**{name: pick[name] for name in PARAMS}) if pick else None,
    )


def design_rows(trial: optuna.trial.FrozenTrial) -> list[dict]:
    """The designs of a scored trial (DESIGN_COLUMNS); a trial made before designs were kept has its one design."""
    attrs = trial.user_attrs
    common = {"number": trial.number, **candidate_of(trial).params(), "mean_return": trial.values[0],
              "parity_margin": attrs.get("parity_margin"), "finished": trial.datetime_complete}  # fmt: skip
    if "designs" not in attrs:
        folding = [[entry["PE"], entry["SIMD"]] for name, entry in attrs.get("folding_config", {}).items() if name != "Defaults"]
        values = dict(zip(OBJECTIVE_NAMES[1:], trial.values[1:]))
        return [common | values | {name: attrs.get(name) for name in DESIGN_COLUMNS if name in attrs}
                | {"target_fps": attrs.get("design_target_fps"), "folding": folding, "chosen": True}]  # fmt: skip
    chosen = attrs.get("design_target_fps")
    return [common | design | {"chosen": design["target_fps"] == chosen} for design in attrs["designs"]]


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


FRONT_COLUMNS = ["number", "width", "core_bits", "input_bits", "output_bits", "target_fps", "folding", "mean_return",
                 "parity_margin", "luts", "ffs", "bram36", "latency_s", "throughput_fps", "energy_j", "power_w"]


def front_table(run: RunData) -> pd.DataFrame:
    front = run.front.sort_values("luts")[FRONT_COLUMNS].copy()
    front["folding"] = front["folding"].map(lambda folding: " ".join(f"{pe}x{simd}" for pe, simd in folding))
    front["latency_us"] = front.pop("latency_s") * 1e6
    front["energy_nJ"] = front.pop("energy_j") * 1e9
    return front


def hardware_description(settings) -> str:
    """The device and the estimate a study's designs were scored with, e.g. "xc7a15tfgg484-1 at 100 MHz, ..."."""
    synthesis = settings.synthesis
    estimator = synthesis.get("estimator", "finn")
    if estimator == "model":
        how = (f"the hardware model, {synthesis.get('calibration', 'vivado')} calibration; timing estimated from the RTL's "
               "stages (Project X-Ray's cell delays, 0.6 ns assumed per net), designs missing the clock kept out")
    else:
        how = "FINN's estimate; timing not checked"
    return (f"{synthesis['device']} at {synthesis['clock_mhz']:g} MHz, resources from {how} "
            f"(hardware model version {settings.hardware_model_version})")


def summary(run: RunData) -> dict:
    trials = run.trials
    trained = trials[(trials["outcome"] == "trained") & trials["state"].isin(["COMPLETE", "FAIL"])]
    scored = run.scored
    return {
        "env": run.settings.env_id,
        "strategy": run.settings.strategy if run.settings.strategy != "search" else f"search ({run.settings.sampler})",
        "trials": len(trained),
        "failed": int((trained["state"] == "FAIL").sum()),
        "repeats": int(trials["outcome"].str.startswith("repeat").sum()),
        "fits_nowhere": int(scored["fits_any"].eq(False).sum()),
        "feasible": len(run.feasible),
        "designs": len(run.designs),
        "feasible_designs": int(run.designs["feasible"].sum()),
        "front": len(run.front),
        "trainings": run.trainings,
        "new_trainings": run.new_trainings,
        "cpu_hours": run.cpu_hours,
        "env_steps": run.env_steps,
        "baseline_trainings": run.baseline.get("trainings", 0),
        "early_stop": run.settings.early_stop,
        **rung_summary(run),
    }


def rung_summary(run: RunData) -> dict:
    """Under rungs: how many candidates reached each rung and the env steps spent on each rung's leg; else nothing."""
    if run.settings.fidelity_rungs == 1:
        return {}
    rungs = run.settings.rung_steps()
    reached, legs = [0] * len(rungs), [0] * len(rungs)
    for steps in run.trials["rung_env_steps"].dropna():
        for rung, (before, after) in enumerate(zip((0, *steps), steps)):
            reached[rung] += 1
            legs[rung] += after - before
    return {"rungs": rungs, "reached": reached, "rung_env_steps": legs}


POST_SYNTH_COLUMNS = ["number", "width", "core_bits", "input_bits", "output_bits", "mean_return", "design",
                      "luts_estimate", "luts", "ffs", "bram36", "dsps", "latency_cycles_estimate", "latency_cycles",
                      "initiation_interval", "energy_nJ", "critical_path_ns", "meets_timing", "fits", "bit_exact", "error"]


def post_synth_table(run: RunData, top: int | None, observations: int = 1000) -> pd.DataFrame:
    """The front's designs after synthesis (yosys) and simulation (Verilator), best return first, ``top`` of them.

    Each design is the trial's deployed policy at that design's folding,
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
        policy_dir = Path(trials[int(row["number"])].user_attrs["policy_dir"])
        folding = [(pe, simd) for pe, simd in row["folding"]]
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
            "energy_nJ": report.energy_per_action_j * 1e9, "critical_path_ns": report.critical_path_ns,
            "meets_timing": report.meets_timing, "fits": report.fits, "bit_exact": report.bit_exact, "error": "",
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
        for name in ("seed_returns", "policy_dirs", "resumed_at", "rung_returns", "rung_env_steps", "rung_cpu_seconds")
    })
    table.to_csv(out / "trials.csv", index=False)
    table.to_parquet(out / "trials.parquet", index=False)
    designs = run.designs.assign(folding=run.designs["folding"].map(json.dumps))
    designs.to_csv(out / "designs.csv", index=False)
    designs.to_parquet(out / "designs.parquet", index=False)
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
    trained = "Candidates trained to the last rung" if "rungs" in facts else "Candidates trained"
    markdown.append(f"{trained}: {facts['trials']} ({facts['failed']} failed), feasible {facts['feasible']}; "
                    f"trained but fitting at no folding {facts['fits_nowhere']}; repeated asks answered from the "
                    f"study {facts['repeats']}.")
    if "rungs" in facts:
        rungs = "; ".join(f"rung {rung + 1} ({steps:,} env steps): {count} reached, {spent:,} env steps spent"
                          for rung, (steps, count, spent) in enumerate(zip(facts["rungs"], facts["reached"],
                                                                            facts["rung_env_steps"])))
        markdown.append(f"Successive halving, factor {run.settings.fidelity_factor}: {rungs}. Only candidates trained "
                        "to the last rung are scored and on the front; the others are PRUNED trials.")
    markdown.append(f"Designs (one per distinct folding of each trained candidate): {facts['designs']}, feasible "
                    f"{facts['feasible_designs']}, Pareto front {facts['front']}.")
    markdown.append(f"Trainings spent {facts['trainings']} ({facts['new_trainings']} trained by this study, the rest "
                    f"from the cache), {facts['cpu_hours']:.2f} CPU-hours trained here, {facts['env_steps']:,} env steps.")
    if run.staged_pick is not None:
        markdown.append(f"Staged rule's pick: {run.staged_pick.label}.")
    markdown += ["", "## Pareto set (feasible, non-dominated designs)", "",
                 markdown_table(front) if len(front) else "(no feasible design yet)", ""]
    tables = [
        ("Summary", "<p>" + "<br>".join(markdown[2:-4]) + "</p>"),
        ("Pareto set", front.to_html(index=False, float_format=lambda v: f"{v:.4g}")),
    ]
    if post_synth:
        synthesized = post_synth_table(run, top)
        synthesized.to_csv(out / "post_synth.csv", index=False)
        note = ("Synthesized by yosys (synth_xilinx, out of context), latency and interval measured by Verilator "
                "on rollout observations; timing estimated, not placed and routed: the longest register-to-register "
                "path of yosys's netlist with Project X-Ray's Artix-7 -1 cell delays and 0.6 ns assumed per routed net "
                f"(synthesis.timing). The estimate columns are the study's ({hardware_description(run.settings)}).")
        markdown += ["## Front after synthesis", "", note, "",
                     markdown_table(synthesized) if len(synthesized) else "(no front yet)", ""]
        tables.append(("Front after synthesis", f"<p>{note}</p>" + synthesized.to_html(index=False, float_format=lambda v: f"{v:.4g}")))
    (out / "summary.md").write_text("\n".join(markdown))
    html = html_page(f"{run.name}: {facts['env']}", figures, tables)
    (out / "index.html").write_text(html)
    return out / "index.html"
