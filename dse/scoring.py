"""What a finished trial is told and records: compute spent, the parity verdict, the design and the objective vector.

Each function returns the user attributes it decided, so the driver can write
them in the order that keeps a verdict even when a later step fails: the parity
verdict is written before the design is built, and a design that cannot be
built fails the trial with its parity verdict in place (the staged rule reads it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dse.executor import TrainingOutcome
from objectives import Fp32Band, TrialScore, parity, score
from objectives.parity import seed_std
from search_spaces import Candidate
from synthesis import lower_qonnx
from synthesis.estimate import HardwareReport, SynthesisSettings, Synthesizer


def compute_attrs(outcomes: list[TrainingOutcome], threads: int, full_steps: int) -> dict:
    """Trainings this trial paid for (the ones it started; shared or cached ones cost it nothing) and what they took."""
    new = [outcome for outcome in outcomes if outcome.trained]
    attrs = {
        "new_trainings": len(new),
        # CPU time: each training holds ``threads`` cores for its wall time
        "train_cpu_seconds": round(sum(outcome.wall_seconds for outcome in new) * threads, 3),
        "train_env_steps": sum(outcome.env_steps for outcome in new),
        "trained_on": sorted({outcome.node for outcome in new}),
        "env_steps_saved": sum(full_steps - outcome.env_steps for outcome in new),
    }
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


def design(candidate: Candidate, policy_dir: Path, settings: SynthesisSettings, cache_dir: Path) -> HardwareReport:
    """The candidate's design: its throughput target's, or the highest target's that fits (SPEC section 6)."""
    synthesizer = Synthesizer(lower_qonnx(Path(policy_dir) / "policy.onnx"), settings, cache_dir=cache_dir)
    if candidate.target_fps is not None:
        return synthesizer.at_target(candidate.target_fps)
    reports, chosen = synthesizer.sweep()
    # nothing fits: the slowest, smallest design stands for the candidate, marked as not fitting
    return chosen if chosen is not None else reports[0]


def hardware_score(
    outcomes: list[TrainingOutcome], band: Fp32Band, report: HardwareReport
) -> tuple[TrialScore, dict]:
    """The objective vector and constraints of a trial whose design was built, and the design's attributes."""
    stopped = any(outcome.stopped_early for outcome in outcomes)
    trial_score = score(
        [outcome.mean_return for outcome in outcomes], band, report.luts, report.latency_s,
        report.energy_per_action_j, report.fits, stopped,
    )
    return trial_score, {
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
