"""The paper's studies on a finished study: noise robustness, learning curves, the selection table (the paper's; docs/studies.md).

Everything here reads the study's stored trials and the policy run folders they
point to; the only new work is the noise evaluations, which run as Ray tasks and
are kept in each policy's run folder (``training.evaluation_file``: named by episodes,
seed and sigma), so a repeated command reuses them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dse.reports.page import Section, write_page, write_table
from dse.reports.run_data import RunData, load_run
from dse.storage.settings import StudyInputError
from dse.storage.trials import candidate_of_row
from dse.study.deploy import expected_forward
from objectives.parity import seed_std
from search_spaces import Candidate
from training import PolicyConfig, evaluation_file, read_eval, read_run, write_eval

NOISE_SEED = 12345
"""episodes of seed k's models come from (NOISE_SEED, k): the quantized and the FP32 model of one seed index meet the
same episodes and noise draws (a paired comparison), and different seeds meet independent ones"""
REFERENCE_DESIGN = Candidate(256, 4, 8, 8)
"""the paper's reference design (docs/hardware.md): width 256, 4-bit core, 8-bit input and output"""


def selected_trial(run: RunData, trial_number: int | None = None) -> tuple[pd.Series, str]:
    """The study's selected configuration and how it was selected.

    ``trial_number`` if given; else the staged rule's pick; else the feasible trial
    with the fewest LUTs (ties: the higher return), the smallest design at parity.
    """
    scored = run.scored
    if trial_number is not None:
        match = scored[scored["number"] == trial_number]
        if match.empty:
            raise StudyInputError(f"trial {trial_number} of {run.run_dir} is not a complete trial; complete: "
                                  f"{', '.join(str(n) for n in sorted(scored['number']))}")
        return match.iloc[0], f"trial {trial_number}"
    if run.staged_pick is not None and (row := run.scored_row(run.staged_pick)) is not None:
        return row, "staged pick"
    feasible = run.feasible
    if feasible.empty:
        raise StudyInputError(f"{run.run_dir} has no trial at FP32 parity to select; pass --trial N")
    return feasible.sort_values(["luts", "mean_return"], ascending=[True, False]).iloc[0], "fewest LUTs at parity"


def _models(run: RunData, trial: pd.Series) -> dict[str, list[str]]:
    """Policy run folders of the selected configuration's seeds and of the FP32 baseline's."""
    if not run.baseline:
        raise StudyInputError(f"{run.run_dir} has no baseline.json: its FP32 baseline was never trained")
    return {"quantized": list(trial["policy_dirs"]), "fp32": list(run.baseline["policy_dirs"])}


# ---- noise ---------------------------------------------------------------------------------------
def _stored_noise(run_dir: str, index: int, sigma: float, episodes: int) -> list[float] | None:
    """Model ``index``'s kept evaluation at ``sigma``, if it drew this study's episodes and ran the deployed forward."""
    try:
        data = read_eval(run_dir, evaluation_file(episodes, NOISE_SEED, sigma))
    except (OSError, ValueError):
        return None
    policy = PolicyConfig(**read_run(run_dir)["spec"]["policy"])
    if data.get("seed") != [NOISE_SEED, index] or data.get("forward") != expected_forward(policy):
        return None
    return data["returns"]


def noise_table(run_dir: Path | str, sigmas: tuple[float, ...], episodes: int, executor_factory,
                trial_number: int | None = None, log=print) -> tuple[pd.DataFrame, str]:
    """Mean return per (model, sigma) for the selected configuration's seeds and the FP32 seeds (deployed forwards)."""
    run = load_run(run_dir)
    trial, how = selected_trial(run, trial_number)
    models = _models(run, trial)
    jobs = [(kind, index, model, sigma) for kind, dirs in models.items() for index, model in enumerate(dirs) for sigma in sigmas]
    results = {}
    missing = []
    for job in jobs:
        stored = _stored_noise(job[2], job[1], job[3], episodes)
        if stored is None:
            missing.append(job)
        else:
            results[job] = stored
    if missing:
        log(f"evaluating {len(missing)} (model, sigma) pairs, {episodes} episodes each")
        executor = executor_factory()
        refs = {executor.submit_evaluation(job[2], episodes, (NOISE_SEED, job[1]), job[3]): job for job in missing}
        while refs:
            for ref in executor.wait(list(refs)):
                job = refs.pop(ref)
                returns, forward = executor.result(ref)
                results[job] = list(returns)
                write_eval(Path(job[2]), evaluation_file(episodes, NOISE_SEED, job[3]), returns, noise_sigma=job[3],
                           seed=(NOISE_SEED, job[1]), forward=forward)
                log(f"  {job[0]} seed {job[1]} sigma {job[3]:g}: {np.mean(results[job]):.1f}")
    rows = [{"kind": kind, "model": index, "sigma": sigma, "policy_dir": model, "episodes": episodes,
             "mean_return": float(np.mean(results[(kind, index, model, sigma)]))} for kind, index, model, sigma in jobs]
    label = candidate_of_row(trial).label
    return pd.DataFrame(rows), f"{run.settings.env_id}: {label} ({how}) vs FP32 under observation noise"


def band_figure(summary: pd.DataFrame, x: str, title: str, x_title: str) -> go.Figure:
    """Mean line and a +-std band over models, one per kind (quantized, fp32)."""
    fig = go.Figure()
    colors = {"quantized": "#1f77b4", "fp32": "#2ca02c"}
    for kind, part in summary.groupby("kind", sort=False):
        part = part.sort_values(x)
        color = colors.get(kind, "#7f7f7f")
        upper, lower = part["mean"] + part["std"].fillna(0), part["mean"] - part["std"].fillna(0)
        fig.add_trace(go.Scatter(x=list(part[x]) + list(part[x])[::-1], y=list(upper) + list(lower)[::-1], fill="toself",
                                 fillcolor=color, opacity=0.15, line_width=0, showlegend=False, hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=part[x], y=part["mean"], mode="lines+markers", name=f"{kind} (mean +- std over models)",
                                 line_color=color))
    fig.update_layout(title=title, xaxis_title=x_title, yaxis_title="return", height=450)
    return fig


def summarize(table: pd.DataFrame, x: str) -> pd.DataFrame:
    """Mean and std over models (``seed_std``) of each kind at each x."""
    grouped = table.groupby(["kind", x], sort=False)["mean_return"]
    return grouped.agg(mean="mean", std=seed_std, models="count").reset_index()


def write_band_report(run_dir: Path | str, name: str, table: pd.DataFrame, x: str, title: str, x_title: str) -> tuple[Path, pd.DataFrame]:
    """reports/<name>.csv (every model's points), <name>-summary.csv (mean, std over models) and <name>.html."""
    summary = summarize(table, x)
    out = Path(run_dir) / "reports"
    out.mkdir(exist_ok=True)
    write_table(table, out / f"{name}.csv")
    write_table(summary, out / f"{name}-summary.csv")
    figure = band_figure(summary, x, title, x_title)
    return write_page(out / f"{name}.html", title, [figure], [Section("Mean over models", table=summary)]), summary


# ---- learning curves -----------------------------------------------------------------------------
def curves_table(run_dir: Path | str, trial_number: int | None = None) -> tuple[pd.DataFrame, str]:
    """Every curve point of the selected configuration's seeds and of the FP32 seeds."""
    run = load_run(run_dir)
    trial, how = selected_trial(run, trial_number)
    frames = []
    for kind, dirs in _models(run, trial).items():
        for index, model in enumerate(dirs):
            curve = pd.read_csv(Path(model) / "curve.csv")
            frames.append(curve.assign(kind=kind, model=index, policy_dir=model))
    table = pd.concat(frames, ignore_index=True).rename(columns={"return_mean": "mean_return"})
    if table.empty:
        raise StudyInputError(f"{run.run_dir}'s trainings recorded no curve points (they ran with --eval-every 0)")
    return table, f"{run.settings.env_id}: learning curves of {candidate_of_row(trial).label} ({how}) and FP32"


# ---- the selection table -------------------------------------------------------------------------
TABLE_COLUMNS = ["env", "study", "design", "width", "core_bits", "input_bits", "output_bits", "mean_return", "parity_margin",
                 "luts", "ffs", "bram36", "dsps", "latency_us", "power_w", "throughput_fps", "energy_nJ"]


def _ffs(trial: pd.Series):
    """The design's FFs, or "not estimated" where FINN's estimate (which has no FF model) made the figures."""
    ffs = trial.get("ffs")
    return "not estimated" if ffs is None or pd.isna(ffs) else int(ffs)


def _design_row(run: RunData, trial: pd.Series, design: str) -> dict:
    return {
        "env": run.settings.env_id, "study": run.name, "design": design, "width": trial["width"],
        "core_bits": trial["core_bits"], "input_bits": trial["input_bits"], "output_bits": trial["output_bits"],
        "mean_return": trial["mean_return"], "parity_margin": trial["parity_margin"], "luts": trial["luts"],
        "ffs": _ffs(trial), "bram36": trial["bram36"], "dsps": trial["dsps"], "latency_us": trial["latency_s"] * 1e6,
        "power_w": trial["power_w"], "throughput_fps": trial["throughput_fps"],
        "energy_nJ": None if pd.isna(trial["energy_j"]) else trial["energy_j"] * 1e9,
    }


def selection_table(run_dirs: list[Path | str]) -> tuple[pd.DataFrame, list[str]]:
    """Per study: the selected configuration and its hardware, then the env's reference design from any study given."""
    runs, notes = [], []
    for run_dir in run_dirs:
        run = load_run(run_dir)
        if run.settings.strategy == "sweep":
            notes.append(f"{run.name}: a sweep, no selection (its trials still serve as reference designs)")
        runs.append(run)
    rows = []
    for env in dict.fromkeys(run.settings.env_id for run in runs):
        env_runs = [run for run in runs if run.settings.env_id == env]
        for run in env_runs:
            if run.settings.strategy == "sweep":
                continue
            try:
                trial, how = selected_trial(run)
            except StudyInputError as error:
                notes.append(f"{run.name}: {error}")
                continue
            rows.append(_design_row(run, trial, f"selected ({how})"))
        reference = [(run, row) for run in env_runs if (row := run.scored_row(REFERENCE_DESIGN)) is not None]
        if reference:
            run, row = reference[0]
            rows.append(_design_row(run, row, "reference (w256, 4-bit core, 8-bit in/out)"))
        else:
            notes.append(f"{env}: no study given trained the reference design {REFERENCE_DESIGN.label} "
                         f"(a staged study or `dse sweep --scope core --bits 4` does)")
    if not rows:
        raise StudyInputError("no study given has a selected configuration: " + "; ".join(notes))
    return pd.DataFrame(rows, columns=TABLE_COLUMNS), notes
