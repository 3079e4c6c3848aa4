"""A table from the policy cache of a study that trained every candidate of its space (``dse tabulate``).

The trainings are read through the cache exactly as a study reuses them (a damaged
or partial run is not in the table), and every quantized policy is priced with the
hardware model of this ``dse``: building a table again from the same cache re-prices
it without retraining.
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Callable
from pathlib import Path

from dse.storage.run_folder import read_manifest
from dse.storage.settings import StudyInputError, StudySettings
from dse.study import scoring
from dse.study.tasks import TrainingOutcome, cached_outcome
from dse.tabular.table import Table, TableRun
from synthesis import HARDWARE_MODEL_VERSION
from synthesis.estimate import SynthesisSettings
from training import RESULTS_VERSION


def _curve(run_dir: Path) -> tuple[tuple[int, float, float], ...]:
    with open(run_dir / "curve.csv", newline="") as f:
        return tuple((int(row["env_step"]), float(row["return_mean"]), float(row["wall_seconds"])) for row in csv.DictReader(f))


def build_table(run_dir: Path | str, cache: Path | str | None = None, threads: int = 1,
                log: Callable[[str], None] = print) -> Table:  # fmt: skip
    """The table of the study in ``run_dir`` (its policy cache: ``cache``, else the run folder's); its trainings held
    ``threads`` torch threads each."""
    run_dir = Path(run_dir)
    settings = StudySettings.from_dict(read_manifest(run_dir)["settings"])
    cache_dir = Path(cache) if cache else run_dir / "cache"
    specs = {None: settings.baseline_specs()}
    specs.update({candidate.label: settings.specs(candidate) for candidate in settings.space.candidates()})
    outcomes = {label: [cached_outcome(spec, cache_dir / "train") for spec in seeds] for label, seeds in specs.items()}
    missing = [(label, seed) for label, found in outcomes.items() for seed, outcome in enumerate(found)
               if outcome is None or outcome.stopped_early is not None]  # fmt: skip
    if missing:
        total = sum(len(found) for found in outcomes.values())
        label, seed = missing[0]
        raise StudyInputError(
            f"{run_dir} holds {total - len(missing)} of the table's {total} trainings run to their end (first missing: "
            f"{label or 'the FP32 baseline'} seed {seed}): run dse tabulate again to train them (a candidate whose "
            "training failed stays missing: leave it out of the space)"
        )
    synthesis = SynthesisSettings(**settings.synthesis)

    def table_run(outcome: TrainingOutcome, priced: bool) -> TableRun:
        designs: tuple[dict, ...] = ()
        chosen = None
        if priced:
            reports, report = scoring.designs(Path(outcome.run_dir), synthesis, cache_dir / "synth")
            designs, chosen = tuple(design.to_dict() for design in reports), report.to_dict()
        return TableRun(outcome.returns, _curve(Path(outcome.run_dir)), outcome.env_steps, outcome.wall_seconds,
                        outcome.forward, designs, chosen)  # fmt: skip

    baseline = tuple(table_run(outcome, False) for outcome in outcomes.pop(None))
    candidates = {label: tuple(table_run(outcome, True) for outcome in found) for label, found in outcomes.items()}
    log(f"table of {settings.env_id}: {settings.space.size} candidates and the FP32 baseline x {settings.seeds} seeds, "
        f"designs priced with hardware model {HARDWARE_MODEL_VERSION}")
    return Table(settings.env_id, settings.template.to_dict(), settings.baseline_width, dataclasses.asdict(settings.space),
                 settings.seeds, settings.synthesis, HARDWARE_MODEL_VERSION, RESULTS_VERSION, baseline, candidates,
                 threads)  # fmt: skip
