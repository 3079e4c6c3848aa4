"""A tabular benchmark of a design space: every candidate trained with N seeds, and the FP32 baseline with N seeds,
kept as what a study reads of each training, so any strategy can be replayed against it in seconds.

Per training: the final returns of the deployed policy (every episode), the learning
curve (env step -> mean return of the curve's episodes, float forward), the env steps
and wall time it took; per quantized training also its designs over the throughput
targets (``synthesis`` reports, distinct foldings) and which one the paper's rule
chooses. The table is one gzipped JSON file; the trained policies stay in the policy
cache of the study that made it, so a new hardware model re-prices a table
(``dse tabulate --from-study``) without retraining.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from dse.storage.settings import StudyInputError
from search_spaces import Candidate, SearchSpace
from training.files import write_whole

TABLE_VERSION = 1


@dataclass(frozen=True)
class TableRun:
    """One training of the table, as a study reads it."""

    returns: tuple[float, ...]
    """the final evaluation of the deployed policy, one return per episode"""
    curve: tuple[tuple[int, float, float], ...]
    """learning-curve points: (env step, mean return, wall seconds since the training of its task started: of all
    the seeds trained together, not this seed's share)"""
    env_steps: int
    wall_seconds: float
    """this seed's share of the wall time of the training that made it"""
    forward: str
    """what computed the final evaluation's actions"""
    designs: tuple[dict, ...] = ()
    """the policy's distinct designs (``HardwareReport.to_dict``), slowest first; none for an FP32 policy"""
    chosen: dict | None = None
    """the paper's choice among them (the highest target that fits, else the slowest), as ``designs`` holds them"""

    def curve_at(self, env_step: int) -> tuple[int, float] | None:
        """The last curve point at or before ``env_step`` (its step and mean return), or None."""
        points = [(step, mean) for step, mean, _ in self.curve if step <= env_step]
        return points[-1] if points else None

    @classmethod
    def from_dict(cls, data: dict) -> TableRun:
        return cls(
            tuple(float(value) for value in data["returns"]),
            tuple((int(step), float(mean), float(wall)) for step, mean, wall in data["curve"]),
            int(data["env_steps"]), float(data["wall_seconds"]), data["forward"], tuple(data.get("designs", ())),
            data.get("chosen"),
        )


@dataclass(frozen=True)
class Table:
    """Every candidate of a space and the FP32 baseline, each trained with ``seeds`` seeds at one fidelity."""

    env_id: str
    template: dict
    """the candidates' training spec (``TrainSpec.to_dict``) but for the policy's shape and the seed"""
    baseline_width: int
    space: dict
    """the search space's axes (``SearchSpace`` fields)"""
    seeds: int
    synthesis: dict
    """the synthesis settings the designs were priced with"""
    hardware_model_version: int
    results_version: int
    baseline: tuple[TableRun, ...]
    candidates: dict[str, tuple[TableRun, ...]]
    """candidate label -> its runs, seed 0 first"""
    threads: int = 1
    """torch threads each training held: its CPU time is its wall time times these"""

    @property
    def search_space(self) -> SearchSpace:
        return SearchSpace(**{axis: tuple(values) for axis, values in self.space.items()})

    def runs(self, candidate: Candidate) -> tuple[TableRun, ...]:
        if candidate.label not in self.candidates:
            raise StudyInputError(f"candidate {candidate.label} is not in the table (its space: {self.search_space})")
        return self.candidates[candidate.label]

    def save(self, path: Path | str) -> Path:
        path = Path(path)
        data = {"table_version": TABLE_VERSION, **asdict(self)}
        write_whole(path, gzip.compress(json.dumps(data, separators=(",", ":")).encode(), mtime=0))
        return path

    @classmethod
    def load(cls, path: Path | str) -> Table:
        try:
            data = json.loads(gzip.decompress(Path(path).read_bytes()))
            if data.get("table_version") != TABLE_VERSION:
                raise StudyInputError(f"table {path} has version {data.get('table_version')}; this dse reads {TABLE_VERSION}")
            return cls(
                data["env_id"], data["template"], data["baseline_width"], data["space"], data["seeds"], data["synthesis"],
                data["hardware_model_version"], data["results_version"],
                tuple(TableRun.from_dict(run) for run in data["baseline"]),
                {label: tuple(TableRun.from_dict(run) for run in runs) for label, runs in data["candidates"].items()},
                data.get("threads", 1),
            )
        except (OSError, EOFError, ValueError, KeyError, TypeError, AttributeError) as error:
            if isinstance(error, StudyInputError):
                raise
            raise StudyInputError(f"table {path} cannot be read: {type(error).__name__}: {error}") from None
