"""What a trial is told and records: compute spent, the parity verdict, its designs and the objective vector.

A trained candidate is mapped at every throughput target (the paper's sweep, docs/hardware.md);
each distinct design is kept in the trial's ``designs`` attribute, and any of them
can join the front. Optuna is told the paper's chosen design (docs/hardware.md), the highest
target that fits (or, when none fits, the slowest, marked as not fitting).

Each function returns the user attributes it decided, so the driver can write
them in the order that keeps a verdict even when a later step fails: the parity
verdict is written before the designs are built, and designs that cannot be
built fail the trial with its parity verdict in place (the staged rule reads it).
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from dse.study.tasks import TrainingOutcome
from objectives import Fp32Band, TrialScore, parity, score
from objectives.parity import seed_std
from search_spaces import Candidate
from synthesis import lower_qonnx
from synthesis.estimate import SynthesisSettings, Synthesizer
from synthesis.report import HardwareReport
from training.export import untrained_policy_onnx


def compute_attrs(outcomes: list[TrainingOutcome], threads: int, full_steps: int) -> dict:
    """The trainings this trial used (its own, wherever they were trained) and those it paid for, with what they took.

    ``trainings`` and ``env_steps`` count every training the candidate needed, also one
    the cache or another study's run already held: what a study spent, however shared.
    ``new_trainings`` and the rest count only what this run trained.
    """
    new = [outcome for outcome in outcomes if outcome.trained]
    attrs = {
        "trainings": len(outcomes),
        "env_steps": sum(outcome.env_steps for outcome in outcomes),
        "new_trainings": len(new),
        # CPU time: each training holds ``threads`` cores for its wall time
        "train_cpu_seconds": round(sum(outcome.wall_seconds for outcome in new) * threads, 3),
        "train_env_steps": sum(outcome.env_steps for outcome in new),
        "trained_on": sorted({outcome.node for outcome in new}),
        "env_steps_saved": sum(full_steps - outcome.env_steps for outcome in new),
    }
    resumed = sorted(step for outcome in new for step in outcome.resumed_at)
    if resumed:
        attrs["resumed_at"] = resumed  # saves a training continued from after its worker or node was lost
    stops = [outcome.stopped_early for outcome in outcomes if outcome.stopped_early]
    if stops:
        attrs["stopped_early"] = stops[0]["reason"]
        attrs["stopped_at_step"] = stops[0]["env_step"]
    return attrs


def parity_attrs(outcomes: list[TrainingOutcome], band: Fp32Band) -> dict:
    """The seeds' returns against the FP32 band (``outcomes`` in seed order); a stopped training is not at parity."""
    seed_returns = [outcome.mean_return for outcome in outcomes]
    verdict = parity(seed_returns, band)
    stopped = any(outcome.stopped_early for outcome in outcomes)
    deployed_seed = int(np.argmax(seed_returns))
    return {
        "seed_returns": seed_returns,
        "return_std": seed_std(seed_returns),
        "parity_margin": verdict.margin,
        "parity_feasible": verdict.feasible and not stopped,
        "deployed_seed": deployed_seed,
        "policy_dir": outcomes[deployed_seed].run_dir,
        "policy_dirs": [outcome.run_dir for outcome in outcomes],
    }


def designs(policy_dir: Path, settings: SynthesisSettings, cache_dir: Path) -> tuple[list[HardwareReport], HardwareReport]:
    """The trained policy's distinct designs over the throughput targets, and the paper's choice among them (docs/hardware.md).

    The choice is the highest target's design that fits; when none fits, the slowest
    (smallest) design stands for the candidate, marked as not fitting. Targets past the
    fastest folding repeat a design: each distinct folding is kept once, at its highest target.
    """
    synthesizer = Synthesizer(lower_qonnx(Path(policy_dir) / "policy.onnx"), settings, cache_dir=cache_dir)
    reports, chosen = synthesizer.sweep()
    return distinct(reports), chosen if chosen is not None else reports[0]


def distinct(reports: list[HardwareReport]) -> list[HardwareReport]:
    """One report per folding (the highest target's), slowest first."""
    return list({json.dumps(report.folding(), sort_keys=True): report for report in reports}.values())


def untrained(candidate: Candidate, env_dims: tuple[int, int], settings: SynthesisSettings, cache_dir: Path) -> Synthesizer:
    """The estimates of an untrained policy of the candidate's shape (seed 0), its ONNX file kept in ``cache_dir/untrained``."""
    folder = Path(cache_dir) / "untrained"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{candidate.label}-{env_dims[0]}x{env_dims[1]}.onnx"
    if not path.exists():
        temporary = untrained_policy_onnx(path.with_suffix(f".{os.getpid()}.onnx"), *env_dims, candidate.width,
                                          candidate.core_bits, candidate.input_bits, candidate.output_bits)  # fmt: skip
        temporary.replace(path)
    return Synthesizer(lower_qonnx(path), settings, cache_dir=cache_dir)


def predicted_designs(
    candidate: Candidate, env_dims: tuple[int, int], settings: SynthesisSettings, cache_dir: Path
) -> list[HardwareReport]:
    """The candidate's designs as an untrained policy of its shape prices them: what training will cost in hardware,
    up to the trained weights' sparsity (a prediction, not a bound)."""
    return distinct(untrained(candidate, env_dims, settings, cache_dir).sweep()[0])


def design_record(report: HardwareReport, trial_score: TrialScore) -> dict:
    """One design of a trial as its ``designs`` attribute keeps it: what the front and the reports read."""
    return {
        "target_fps": report.target_fps,
        "folding": [[layer.pe, layer.simd] for layer in report.layers if layer.pe is not None],
        "luts": report.luts,
        "ffs": report.ffs,
        "bram36": report.bram36,
        "block_rams": report.block_rams,
        "dsps": report.dsps,
        "clock_mhz": report.clock_mhz,
        "latency_s": report.latency_s,
        "latency_cycles": report.latency_cycles,
        "throughput_fps": report.throughput_fps,
        "energy_j": report.energy_per_action_j,
        "power_w": report.power_w,
        "fits": report.fits,
        "over": "; ".join(report.over),
        "feasible": trial_score.feasible,
    }


def hardware_score(
    outcomes: list[TrainingOutcome], band: Fp32Band, report: HardwareReport, designs: list[HardwareReport]
) -> tuple[TrialScore, dict]:
    """The objective vector and constraints of the chosen design ``report``, and the attributes of every design."""
    stopped = any(outcome.stopped_early for outcome in outcomes)
    trial_score = score(
        [outcome.mean_return for outcome in outcomes], band, report.luts, report.latency_s,
        report.energy_per_action_j, report.fits, stopped,
    )
    return trial_score, {
        "designs": [design_record(design, replace(trial_score, fits=design.fits)) for design in designs],
        "fits_any": any(design.fits for design in designs),
        "fits": report.fits,
        "over": "; ".join(report.over),
        "feasible": trial_score.feasible,
        "ffs": report.ffs,
        "bram36": report.bram36,
        "dsps": report.dsps,
        "throughput_fps": report.throughput_fps,
        "latency_cycles": report.latency_cycles,
        "power_w": report.power_w,
        "design_target_fps": report.target_fps,
        "folding_config": report.folding(),
        "hardware_estimator": report.estimator,
    }
