"""A study replayed against a table: the real driver, strategies, samplers, early stopping and rungs, with the
executor replaced by one that serves each training from the table (``dse replay``).

Replicate R chooses which of the table's N seeds play the study's seeds 0..S-1 and
which baseline seeds make the FP32 band: replicate 0 plays seeds 0..S-1 in order
(what a live study of the same settings trains), any other draws S of N without
replacement. Trainings finish in the order their recorded wall time would finish
them on the study's workers (a virtual clock), so asks made while others train see
what a live study would, and a promoted candidate's leg starts where its rung
paused. Early stopping reads the training's learning curve (the rule sees the seeds'
mean at each curve point, as in training). Two approximations: a stopped training's
returns, and a rung's, are the learning curve's point there (its float forward over
the curve's episodes; a live training evaluates the deployed network anew), whatever
the outcome's ``forward`` says. Designs come from the table, priced when it was
built; the served folders hold no policies (post-synthesis and noise studies need the
tabulate study's own).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from dse.storage.run_folder import MANIFEST
from dse.storage.settings import StudyInputError, StudySettings
from dse.study.run import run_study
from dse.study.tasks import RungOutcome, TrainingOutcome, task_groups, task_stopper
from dse.tabular.table import Table, TableRun
from search_spaces import Candidate
from synthesis import HARDWARE_MODEL_VERSION
from synthesis.report import HardwareReport
from training import RESULTS_VERSION, TrainSpec
from training.curve import stop_record

MARKER = "table.json"
"""in a served training's folder: which table run it is"""


def replicate_seeds(table_seeds: int, seeds: int, replicate: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The table seeds that play the study's seeds 0..S-1: (the candidates', the baseline's)."""
    if not 1 <= seeds <= table_seeds:
        raise StudyInputError(f"seeds {seeds} is invalid for a table of {table_seeds} seeds: choose 1..{table_seeds}")
    if replicate < 0:
        raise StudyInputError(f"replicate {replicate} is invalid: it must be >= 0 (0: the table's first seeds in order)")
    if replicate == 0:
        return tuple(range(seeds)), tuple(range(seeds))
    rng = np.random.default_rng([replicate, table_seeds, seeds])
    draw = lambda: tuple(int(seed) for seed in rng.permutation(table_seeds)[:seeds])  # noqa: E731
    return draw(), draw()


class TableExecutor:
    """The executor interface of ``dse.study.executor.RayExecutor``, served from a table on a virtual clock."""

    def __init__(self, table: Table, candidate_seeds: tuple[int, ...], baseline_seeds: tuple[int, ...], workers: int):
        self.table = table
        self.candidate_seeds = candidate_seeds
        self.baseline_seeds = baseline_seeds
        self.workers = workers
        self.threads = table.threads
        self.clock = 0.0
        self._tasks: dict[int, tuple[float, dict | None, int | None]] = {}  # ref -> (finish time, where it stops, until)
        self._paused_at: dict[str, int] = {}  # spec key -> the rung step its training paused at

    def groups(self, specs: list[TrainSpec], parts: int = 1) -> list[list[TrainSpec]]:
        return task_groups(specs, parts, False)

    def submit(self, specs: list[TrainSpec], early_stop: dict | None = None, until: int | None = None) -> int:
        """A task of ``specs``: it finishes after the wall time of the leg it trains, from the rung it resumes at (or
        step 0) to ``until``, where the early-stop rule ends it, or the end."""
        total = specs[0].total_steps
        runs = [self._run(spec)[1] for spec in specs]
        stopped = None if until is not None else _stop(specs, runs, early_stop)
        end = until or (stopped["env_step"] if stopped else total)
        start = self._paused_at.get(specs[0].key(), 0)
        wall = sum(run.wall_seconds for run in runs) * (end - start) / total
        ref = len(self._tasks)
        self._tasks[ref] = (self.clock + wall, stopped, until)
        return ref

    def wait(self, refs: list, timeout: float | None = None) -> list:
        """The task that finishes first; the clock moves to it."""
        ref = min(refs, key=lambda ref: (self._tasks[ref][0], ref))
        self.clock = max(self.clock, self._tasks[ref][0])
        return [ref]

    def outcomes(self, ref: int, specs: list[TrainSpec], cache_dir: Path) -> list[TrainingOutcome] | list[RungOutcome]:
        _, stopped, until = self._tasks[ref]
        runs = [self._run(spec) for spec in specs]
        for spec in specs:  # a rung's pause is where the next leg starts; an end ends it
            if until is None:
                self._paused_at.pop(spec.key(), None)
            else:
                self._paused_at[spec.key()] = until
        if until is not None:
            return [_rung_outcome(spec, run, until) for spec, (_, run) in zip(specs, runs)]
        return [self._outcome(spec, name, run, stopped, Path(cache_dir)) for spec, (name, run) in zip(specs, runs)]

    def forget(self, specs: list[TrainSpec], early_stop: dict | None = None) -> None:
        """A candidate stopped below the last rung will not resume."""
        for spec in specs:
            self._paused_at.pop(spec.key(), None)

    def _run(self, spec: TrainSpec) -> tuple[dict, TableRun]:
        """Which table run plays ``spec`` (its marker) and the run."""
        if spec.policy.fp32:
            seed = self.baseline_seeds[spec.seed]
            return {"candidate": None, "table_seed": seed}, self.table.baseline[seed]
        policy = spec.policy
        candidate = Candidate(policy.width, policy.core_bits, policy.input_bits, policy.output_bits)
        seed = self.candidate_seeds[spec.seed]
        return {"candidate": candidate.label, "table_seed": seed}, self.table.runs(candidate)[seed]

    def _outcome(self, spec: TrainSpec, marker: dict, run: TableRun, stopped: dict | None, cache_dir: Path) -> TrainingOutcome:
        """The training as the table holds it, in a folder of its own (its curve, and the marker the designs read)."""
        folder = cache_dir / "table" / f"{spec.policy.label}-s{spec.seed}-t{marker['table_seed']}"
        folder.mkdir(parents=True, exist_ok=True)
        end = stopped["env_step"] if stopped else spec.total_steps
        with open(folder / "curve.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["env_step", "return_mean", "wall_seconds"])
            writer.writerows(point for point in run.curve if point[0] <= end)
        (folder / MARKER).write_text(json.dumps(marker))
        returns = (run.curve_at(end)[1],) if stopped else run.returns
        return TrainingOutcome(spec.key(), str(folder), returns, run.wall_seconds * end / spec.total_steps, end,
                               trained=True, stopped_early=stopped, node="table", forward=run.forward)  # fmt: skip


def _rung_outcome(spec: TrainSpec, run: TableRun, until: int) -> RungOutcome:
    return RungOutcome(spec.key(), until, (run.curve_at(until)[1],), run.wall_seconds * until / spec.total_steps, "table")


def _stop(specs: list[TrainSpec], runs: list[TableRun], early_stop: dict | None) -> dict | None:
    """Where the task's stop rule ends its trainings, fed their seeds' mean at each curve point as training feeds it
    (``training.curve.stop_record``), or None."""
    stopper = task_stopper(specs, early_stop)
    if stopper is None:
        return None
    for step in sorted(set.intersection(*({point[0] for point in run.curve} for run in runs))):
        record = stop_record(stopper, step, specs[0].total_steps, float(np.mean([run.curve_at(step)[1] for run in runs])))
        if record is not None:
            return record
    return None


def table_designs(table: Table) -> Callable:
    """``dse.study.scoring.designs`` for served trainings: the designs the table priced for that training's policy."""

    def designs(policy_dir: Path, settings, cache_dir: Path) -> tuple[list[HardwareReport], HardwareReport]:
        marker = json.loads((Path(policy_dir) / MARKER).read_text())
        run = table.candidates[marker["candidate"]][marker["table_seed"]]
        return [HardwareReport.from_dict(design) for design in run.designs], HardwareReport.from_dict(run.chosen)

    return designs


def replay(table_path: Path | str, out: Path | str, settings_of: Callable[[Table], StudySettings], *, budget: int,
           replicate: int, workers: int, cache: Path | str | None = None, log: Callable[[str], None] = print,
           command: list[str] | None = None) -> Path:  # fmt: skip
    """Replay a study of ``settings_of(table)`` against the table at ``table_path`` into the new run folder ``out``.

    ``cache``: where the hardware pricing of untrained policies is kept (default ``out/cache``); replicates that share
    one skip pricing the space again."""
    table = Table.load(table_path)
    if table.hardware_model_version != HARDWARE_MODEL_VERSION:
        raise StudyInputError(f"table {table_path} was priced with hardware model {table.hardware_model_version}, this "
                              f"dse has {HARDWARE_MODEL_VERSION}: build it again from its study (dse tabulate --from-study)")
    if table.results_version != RESULTS_VERSION:
        raise StudyInputError(f"table {table_path} was trained under results version {table.results_version}, this dse "
                              f"has {RESULTS_VERSION}: its trainings are not what a study would train now")
    out = Path(out)
    if (out / MANIFEST).exists():
        raise StudyInputError(f"{out} already holds a study: a replay takes seconds, replay into a new --out")
    settings = settings_of(table)
    first = min(point[0] for point in table.baseline[0].curve) if table.baseline[0].curve else None
    if settings.fidelity_rungs > 1 and (first is None or settings.rung_steps()[0] < first):
        raise StudyInputError(f"fidelity rung 1 at {settings.rung_steps()[0]:,} env steps is before the table's first "
                              f"curve point ({first or 'none'}): choose fewer --fidelity-rungs")
    candidate_seeds, baseline_seeds = replicate_seeds(table.seeds, settings.seeds, replicate)
    log(f"replay {replicate} of table {table_path}: table seeds {list(candidate_seeds)} play seeds "
        f"0..{settings.seeds - 1}, baseline seeds {list(baseline_seeds)}")
    executor = TableExecutor(table, candidate_seeds, baseline_seeds, workers)
    # the run folder's own journal: a replay never joins a shared storage ($DSE_STORAGE) or another study
    run_study(out, settings, budget=budget, storage=str(out.resolve() / "study.log"), cache=cache, workers=workers,
              executor=executor, designs=table_designs(table), command=command, log=log)  # fmt: skip
    return out
