"""A study read back into records: one row per trial and per design of every trained candidate, the Pareto designs
marked, its FP32 band and the staged rule's pick.

A trained candidate has a design per distinct folding; the front is over every design of every trained candidate,
whichever strategy trained it. Everything is read back from the study's storage and the run folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import optuna
import pandas as pd

from dse.storage.run_folder import open_run_study, read_manifest
from dse.storage.settings import BASELINE_FILE, STAGED_PICK_ATTR, StudySettings
from dse.storage.trials import (
    PARAMS,
    RECORD_COLUMNS,
    candidate_of,
    candidate_of_row,
    counts_toward_budget,
    trial_record,
)
from objectives import OBJECTIVES, Fp32Band
from objectives.pareto import losses, pareto_mask
from search_spaces import Candidate

OBJECTIVE_NAMES = [objective.name for objective in OBJECTIVES]
"""every objective's; a study's own are ``RunData.objective_names``"""


DESIGN_COLUMNS = (
    "number", *PARAMS, "target_fps", "mean_return", "parity_margin", *(objective.name for objective in OBJECTIVES[1:]),
    "ffs", "bram36", "block_rams", "dsps", "clock_mhz", "latency_cycles", "throughput_fps", "power_w", "fits", "over",
    "feasible", "chosen", "folding", "finished",
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
    objective_names: tuple[str, ...] = tuple(OBJECTIVE_NAMES)
    """the study's objectives: without energy where its device's is not estimated (a Lattice part)"""

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
        return losses(self.designs[self.designs["feasible"]][list(self.objective_names)].to_numpy(dtype=float))

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
    names = OBJECTIVE_NAMES[: len(study.directions)]
    if designs["feasible"].any():
        mask = pareto_mask(losses(designs.loc[designs["feasible"], names].to_numpy(dtype=float)))
        designs.loc[designs.index[designs["feasible"]][mask], "pareto"] = True
    baseline = json.loads((run_dir / BASELINE_FILE).read_text()) if (run_dir / BASELINE_FILE).exists() else {}
    band = Fp32Band(baseline["mean"], baseline["std"], baseline["seeds"]) if baseline else None
    pick = study.user_attrs.get(STAGED_PICK_ATTR)
    return RunData(
        run_dir, run_dir.name, StudySettings.from_dict(manifest["settings"]), frame, designs, band, baseline,
        Candidate(**{name: pick[name] for name in PARAMS}) if pick else None, tuple(names),
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


