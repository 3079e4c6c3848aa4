"""The study's FP32 baseline: its seeds trained (through the cache) before any trial, the FP32 band, the early-stop rule.

The baseline is trained once per (env, algorithm, fidelity, seeds) and kept in the
policy cache like any candidate; ``baseline.json`` in the run folder records the
band and what training it cost, summed over the invocations of the study.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dse.storage.lease import REFRESH_SECONDS
from dse.storage.settings import BASELINE_FILE, StudySettings
from dse.study.executor import RayExecutor
from dse.study.tasks import TaskFailed, TrainingOutcome, cached_outcome
from objectives import Fp32Band
from objectives.early_stop import EarlyStopper, Fp32Curve, early_stop_rule
from objectives.parity import SPREAD
from training.files import write_whole


@dataclass(frozen=True)
class EarlyStop:
    """The study's early-stop rule as its training tasks take it, and the identity of the runs it stops."""

    task_config: dict
    """the rule's mode and the FP32 curve (``Fp32Curve.to_dict``), as ``dse.study.tasks.train_task`` takes them"""
    identity: str
    """``EarlyStopper.identity``: a stopped run in the cache stands only for a rule with the same"""


@dataclass(frozen=True)
class Baseline:
    band: Fp32Band
    seed_returns: tuple[float, ...]
    """each baseline seed's mean return, in seed order (the band is their mean and spread)"""
    run_dirs: tuple[str, ...]
    """the baseline seeds' run folders, in seed order"""
    early_stop: EarlyStop | None
    """None when early stopping is off (asked, or impossible without curve points)"""


def train_baseline(
    settings: StudySettings,
    executor: RayExecutor,
    train_cache: Path,
    run_dir: Path,
    log: Callable[[str], None],
    keep_alive: Callable[[], None],
) -> Baseline:
    """The FP32 band of the env at the study's fidelity; trains the seeds the cache lacks (not counted in the budget).

    ``keep_alive`` is called at least every ``REFRESH_SECONDS`` while trainings run (the driver's lease).
    """
    specs = settings.baseline_specs()
    outcomes: dict[int, TrainingOutcome] = {}
    for seed, spec in enumerate(specs):
        cached = cached_outcome(spec, train_cache, log=log)
        if cached is not None:
            outcomes[seed] = cached
    missing = [spec for spec in specs if spec.seed not in outcomes]
    if outcomes:
        log(f"FP32 baseline: {len(outcomes)} of {len(specs)} seeds reused from the cache")
    refs = {executor.submit(group): group for group in executor.groups(missing, parts=executor.workers)}
    if refs:
        log(f"training the FP32 baseline: {len(missing)} of {len(specs)} seeds (not counted in the budget)")
    while refs:
        ready = executor.wait(list(refs), timeout=REFRESH_SECONDS)
        keep_alive()
        for ref in ready:
            group = refs.pop(ref)
            try:
                installed = executor.outcomes(ref, group, train_cache)
            except TaskFailed as error:
                raise TaskFailed(f"the FP32 baseline of {settings.env_id} cannot be trained: {error}") from None
            outcomes.update((spec.seed, outcome) for spec, outcome in zip(group, installed))
    ordered = [outcomes[seed] for seed in range(len(specs))]
    band = Fp32Band.from_seed_returns([outcome.mean_return for outcome in ordered])
    _write_record(run_dir / BASELINE_FILE, settings, band, ordered, executor.threads)
    log(f"FP32 band of {settings.env_id}: {band.mean:.1f} +- {band.std:.1f} over {band.seeds} seeds ({SPREAD})")
    run_dirs = tuple(outcome.run_dir for outcome in ordered)
    seed_returns = tuple(outcome.mean_return for outcome in ordered)
    return Baseline(band, seed_returns, run_dirs, _early_stop(settings, run_dirs, band, log))


def _write_record(path: Path, settings: StudySettings, band: Fp32Band, ordered: list[TrainingOutcome], threads: int) -> None:
    """baseline.json: the band and the compute of its trainings, summed over the invocations of this study."""
    trained = [outcome for outcome in ordered if outcome.trained]
    record = {
        "env_id": settings.env_id,
        "width": settings.baseline_width,
        **band.to_dict(),
        "spread": SPREAD,
        "seed_returns": [outcome.mean_return for outcome in ordered],
        "trainings": len(trained),
        "train_cpu_seconds": threads * sum(outcome.wall_seconds for outcome in trained),
        "train_env_steps": sum(outcome.env_steps for outcome in trained),
        "trained_on": sorted({outcome.node for outcome in trained}),
        "policy_dirs": [outcome.run_dir for outcome in ordered],
        "forward": ordered[0].forward,
    }
    if path.exists():
        # a resumed study finds the baseline cached and adds nothing
        old = json.loads(path.read_text())
        record["trainings"] += old.get("trainings", 0)
        record["train_cpu_seconds"] += old.get("train_cpu_seconds", 0.0)
        record["train_env_steps"] += old.get("train_env_steps", 0)
        record["trained_on"] = sorted(set(record["trained_on"]) | set(old.get("trained_on", [])))
    write_whole(path, json.dumps(record, indent=2))


def _early_stop(
    settings: StudySettings, run_dirs: tuple[str, ...], band: Fp32Band, log: Callable[[str], None]
) -> EarlyStop | None:
    """The study's early-stop rule against the baseline's learning curve, capped at its band's lower edge, or None."""
    rule = early_stop_rule(settings.early_stop)
    if rule is None:
        return None
    reference = Fp32Curve.from_run_dirs(run_dirs, band.lower)
    if len(reference.steps) < 2:
        log(f"early stopping ({rule.name}) is off for this study: it needs evaluation checkpoints (--eval-every > 0)")
        return None
    identity = EarlyStopper(rule, reference, settings.template.total_steps).identity
    return EarlyStop({"mode": rule.name, "reference": reference.to_dict()}, identity)
