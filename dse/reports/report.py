"""A study's report: trials and designs as tables (CSV, Parquet), Pareto plots and hypervolume (HTML), a Markdown summary.

Everything is read back from the study's storage and the run folder (``run_data``), so a report can be written at any
time, also while the study runs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from dse.reports.figures import (
    design_table,
    hypervolume_figure,
    hypervolume_note,
    markdown_table,
    normalization_for,
    pareto_figure,
)
from dse.reports.page import Section, write_page, write_table, write_text
from dse.reports.run_data import RunData, load_run
from dse.storage.run_folder import open_run_study
from synthesis.lattice_parts import require

FRONT_COLUMNS = ["number", "width", "core_bits", "input_bits", "output_bits", "target_fps", "folding", "mean_return",
                 "parity_margin", "luts", "ffs", "bram36", "latency_s", "throughput_fps", "energy_j", "power_w"]


def front_table(run: RunData) -> pd.DataFrame:
    """The front's designs; on a Lattice part with their block RAMs and clocks, and no power or energy."""
    columns = FRONT_COLUMNS
    if run.settings.synthesis.get("lattice"):
        columns = [{"bram36": "block_rams", "throughput_fps": "clock_mhz"}.get(name, name) for name in FRONT_COLUMNS
                   if name not in ("energy_j", "power_w")] + ["throughput_fps"]  # fmt: skip
    return design_table(run.front.sort_values("luts"), columns)


def hardware_description(settings) -> str:
    """The device and the estimate a study's designs were scored with, e.g. "xc7a15tfgg484-1 at 100 MHz, ..."."""
    synthesis = settings.synthesis
    estimator = synthesis.get("estimator", "finn")
    if synthesis.get("lattice"):
        part = require(synthesis["lattice"])
        clock = ("each design at the fastest clock it is estimated to close at" if synthesis["clock_mhz"] is None
                 else f"at {synthesis['clock_mhz']:g} MHz, designs estimated to miss it kept out")  # fmt: skip
        return (f"{part.name}, {clock}; resources and clock from the {part.family} family's model fitted on designs "
                f"placed and routed by the open flow (synthesis.lattice_model); energy not estimated (hardware model "
                f"version {settings.hardware_model_version})")
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
                      "initiation_interval", "energy_nJ", "critical_path_ns", "meets_timing", "fits", "bit_exact", "error",
                      "fmax_mhz", "bitstream"]
"""on a Lattice part, luts are its LUT4s or logic cells, bram36 its block RAMs, and fmax_mhz the router's"""


def post_synth_table(run: RunData, top: int | None, observations: int = 1000) -> pd.DataFrame:
    """The front's designs after synthesis (yosys) and simulation (Verilator), best return first, ``top`` of them; in a
    study on a Lattice part, placed and routed on it (nextpnr) with a bitstream.

    Each design is the trial's deployed policy at that design's folding,
    built in that policy's folder under ``rtl/`` (``rtl-PART/``); a design whose tools fail gets its
    error in the row and the others go on.
    """
    from dse.study.deploy import rollout_observations
    from synthesis import lower_qonnx
    from synthesis.errors import ToolFailure
    from synthesis.estimate import SynthesisSettings
    from synthesis.post_route import post_route
    from synthesis.post_synth import design_name, post_synthesize

    trials = {trial.number: trial for trial in open_run_study(run.run_dir).get_trials(deepcopy=False)}
    settings = SynthesisSettings(**run.settings.synthesis)
    part = settings.lattice_part
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
            if part is None:
                report = post_synthesize(policy, folding, settings, policy_dir / "rtl" / record["design"], levels)
            else:
                report = post_route(policy, folding, settings, part, policy_dir / f"rtl-{part.aliases[0]}" / record["design"],
                                    levels, settings.clock_mhz)  # fmt: skip
        except ToolFailure as error:
            rows.append(record | {"error": f"design {record['design']}: {error}"})
            continue
        measured = ({"bram36": report.bram36, "critical_path_ns": report.critical_path_ns} if part is None else
                    {"bram36": report.block_rams, "fmax_mhz": report.fmax_mhz, "bitstream": report.bitstream})  # fmt: skip
        energy = report.energy_per_action_j
        rows.append(record | measured | {
            "luts": report.luts, "ffs": report.ffs, "dsps": report.dsps,
            "latency_cycles": report.latency_cycles, "initiation_interval": report.initiation_interval,
            "energy_nJ": None if energy is None else energy * 1e9,
            "meets_timing": report.meets_timing, "fits": report.fits, "bit_exact": report.bit_exact, "error": "",
        })
    return pd.DataFrame.from_records(rows, columns=POST_SYNTH_COLUMNS)


def _relative(paths, run_dir: Path):
    """Paths as seen from the study folder, so a table moved with its folder still points at its policies."""
    return [os.path.relpath(path, run_dir) for path in paths] if isinstance(paths, list | tuple) else paths


def _write_tables(run: RunData, out: Path) -> None:
    """trials and designs as CSV and Parquet; list-valued columns as JSON text, so both hold the same thing; paths
    relative to the study folder."""
    trials = run.trials.assign(policy_dirs=run.trials["policy_dirs"].map(lambda paths: _relative(paths, run.run_dir)))
    table = trials.assign(**{
        name: trials[name].map(lambda value: json.dumps(value) if value is not None else None)
        for name in ("seed_returns", "policy_dirs", "resumed_at", "rung_returns", "rung_env_steps", "rung_cpu_seconds")
    })
    write_table(table, out / "trials.csv")
    write_table(table, out / "trials.parquet")
    designs = run.designs.assign(folding=run.designs["folding"].map(json.dumps))
    write_table(designs, out / "designs.csv")
    write_table(designs, out / "designs.parquet")


def _summary_lines(run: RunData, facts: dict) -> list[str]:
    """The Markdown summary's title and its paragraph of facts, one line each."""
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
        markdown.append(f"Staged rule's pick: {run.staged_pick.label} (a green diamond on the plots).")
    markdown.append(hypervolume_note("this study's feasible designs", run.objective_names))
    return markdown


def write_report(run_dir: Path | str, post_synth: bool = False, top: int | None = None) -> Path:
    """reports/index.html, trials.csv, trials.parquet and summary.md of one study; returns the HTML's path.

    With ``post_synth``, the front's designs (the ``top`` best by return, or all) are
    also synthesized and simulated, and the report gets their table (post_synth.csv too).
    """
    run = load_run(run_dir)
    out = run.run_dir / "reports"
    out.mkdir(exist_ok=True)
    _write_tables(run, out)
    facts = summary(run)
    normalization = normalization_for([run])
    figures = [pareto_figure(run)]
    if normalization is not None:
        figures.append(hypervolume_figure([run], normalization))
    front = front_table(run)
    markdown = _summary_lines(run, facts)
    sections = [Section("Summary", markdown[2:]), Section("Pareto set (feasible, non-dominated designs)", table=front)]
    markdown += ["", "## Pareto set (feasible, non-dominated designs)", "",
                 markdown_table(front) if len(front) else "(no feasible design yet)", ""]
    if post_synth:
        synthesized = post_synth_table(run, top)
        write_table(synthesized, out / "post_synth.csv")
        note = ("Synthesized by yosys (synth_xilinx, out of context), latency and interval measured by Verilator "
                "on rollout observations; timing estimated, not placed and routed: the longest register-to-register "
                "path of yosys's netlist with Project X-Ray's Artix-7 -1 cell delays and 0.6 ns assumed per routed net "
                f"(synthesis.timing). The estimate columns are the study's ({hardware_description(run.settings)}).")
        if run.settings.synthesis.get("lattice"):
            note = ("Placed and routed by the open flow (yosys, nextpnr; luts: LUT4s or logic cells, bram36: block "
                    "RAMs, fmax_mhz: the router's timing analysis), with a bitstream beside each design's RTL; latency "
                    "and interval measured by Verilator on rollout observations. The estimate columns are the study's "
                    f"({hardware_description(run.settings)}).")
        markdown += ["## Front after synthesis", "", note, "",
                     markdown_table(synthesized) if len(synthesized) else "(no front yet)", ""]
        sections.append(Section("Front after synthesis", [note], synthesized))
    write_text(out / "summary.md", "\n".join(markdown))
    return write_page(out / "index.html", f"{run.name}: {facts['env']}", figures, sections)
