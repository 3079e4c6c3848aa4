"""A study's trials read back as records: which count toward the budget, their feasible points, their rows in the reports."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import optuna

from objectives import OBJECTIVES
from search_spaces import Candidate

REJECTED_BEFORE_TRAINING = "rejected_before_training"
"""the attribute of a trial that hardware model 2 and before told infeasible from its shape alone, without training (the
DSPs then were no pool, and a candidate could fit nowhere); read so that such a study's reports stay right"""


def counts_toward_budget(trial: optuna.trial.FrozenTrial) -> bool:
    """Candidates trained: complete trials, real failures and candidates stopped below the last rung (pruned), not
    repeats (nor candidates that studies of hardware model 2 and before rejected before training).

    An interrupted trial is redone, so it does not count either.
    """
    attrs = trial.user_attrs
    if "repeat_of" in attrs or attrs.get(REJECTED_BEFORE_TRAINING):
        return False
    if trial.state == optuna.trial.TrialState.COMPLETE:
        return True
    if trial.state == optuna.trial.TrialState.PRUNED:
        return "rung_returns" in attrs  # a candidate stopped below the last rung (multi-fidelity)
    return trial.state == optuna.trial.TrialState.FAIL and not attrs.get("interrupted", False)


def feasible_points(attrs: Mapping[str, Any], values: Sequence[float] | None) -> list[tuple[float, ...]]:
    """Objective vectors of a trained trial's feasible designs (from its ``designs``; a trial made before designs
    were kept: its own vector, when feasible)."""
    if values is None:
        return []
    if "designs" not in attrs:
        return [tuple(values)] if attrs.get("feasible") else []
    hardware = OBJECTIVES[1:len(values)]  # without energy where the study has none
    return [(values[0], *(design[objective.name] for objective in hardware)) for design in attrs["designs"] if design["feasible"]]


def candidate_of(trial: optuna.trial.FrozenTrial) -> Candidate:
    return Candidate(**{name: trial.params[name] for name in PARAMS})


PARAMS = ("width", "core_bits", "input_bits", "output_bits")
ATTRIBUTES = (
    "return_std", "parity_margin", "parity_feasible", "fits", "fits_any", "feasible", "over", "ffs", "bram36", "dsps",
    "throughput_fps", "latency_cycles", "power_w", "design_target_fps", "hardware_estimator", "deployed_seed", "seed_returns",
    "trainings", "env_steps", "new_trainings", "train_cpu_seconds", "train_env_steps", "trained_on", "env_steps_saved",
    "resumed_at", "raced_out", "rung_reached", "rung_returns", "rung_env_steps", "rung_cpu_seconds", "spent_env_steps", "stopped_early", "stopped_at_step", "repeat_of", "fail_reason", "policy_dirs",
)
RECORD_COLUMNS = (
    "number", "state", "outcome", *PARAMS, *(objective.name for objective in OBJECTIVES), *ATTRIBUTES, "started", "finished", "duration_s",
)


def outcome(trial: optuna.trial.FrozenTrial) -> str:
    """What became of the ask: "trained", "repeat of #N", "interrupted", "running", under rungs "paused at rung R" and
    "stopped at rung R", or in a study of hardware model 2 and before "rejected before training"."""
    attrs = trial.user_attrs
    if "repeat_of" in attrs:
        return f"repeat of #{attrs['repeat_of']}"
    if attrs.get(REJECTED_BEFORE_TRAINING):
        return "rejected before training"
    if attrs.get("interrupted"):
        return "interrupted"
    if trial.state == optuna.trial.TrialState.PRUNED:
        return f"stopped at rung {attrs.get('rung_reached')}"
    if trial.state == optuna.trial.TrialState.RUNNING and "rung_returns" in attrs:
        return f"paused at rung {len(attrs['rung_returns'])}"
    return "running" if trial.state == optuna.trial.TrialState.RUNNING else "trained"


def trial_record(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """One row of the reports (RECORD_COLUMNS): parameters, objectives, feasibility, hardware, compute, timings."""
    attrs = trial.user_attrs
    record: dict[str, Any] = {"number": trial.number, "state": trial.state.name, "outcome": outcome(trial)}
    record.update({name: trial.params.get(name) for name in PARAMS})
    values = trial.values if trial.state == optuna.trial.TrialState.COMPLETE else None
    for index, objective in enumerate(OBJECTIVES):
        record[objective.name] = values[index] if values and index < len(values) else None
    record.update({name: attrs.get(name) for name in ATTRIBUTES})
    record["started"] = trial.datetime_start
    record["finished"] = trial.datetime_complete
    record["duration_s"] = (
        (trial.datetime_complete - trial.datetime_start).total_seconds()
        if trial.datetime_complete and trial.datetime_start else None
    )
    return record


def candidate_of_row(row) -> Candidate:
    """The candidate of a report row (a mapping with the PARAMS columns)."""
    return Candidate(*(int(row[name]) for name in PARAMS))
