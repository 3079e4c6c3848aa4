"""Trials per second of the study driver itself, with training and hardware replaced by instant stand-ins.

    .venv/bin/python bench/driver_throughput.py [--trials 300] [--samplers random,tpe] [--storage URL]

Everything else is the real thing: the Driver's loop (ask, attributes, scoring,
constraints, tell, progress line) on real Optuna storages: the journal file a run
folder keeps by default (Optuna's ``JournalFileBackend``, ``study.log``) and Optuna's
relational tables in SQLite (``--storage sqlite:///...``); ``--storage`` adds another,
e.g. PostgreSQL. The instant executor returns seed returns
drawn around the FP32 band at once; the instant design gives LUTs, latency and
energy from the candidate's parameters.
A space of 245 candidates holds fewer than ``--trials`` new ones, so the search
stops early and the rate counts the trials told. The reference measured in the same run is
bare Optuna (ask, one suggest per parameter, tell: no attributes, no constraints)
on a storage of the same kind, and the goal is 50 trials/s.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import sys
import tempfile
import time
from pathlib import Path

GOAL_TRIALS_PER_S = 50.0


class InstantExecutor:
    """The executor's interface, answering every training at once with returns near the FP32 band."""

    workers, threads, task_per_seed = 2, 1, False

    def __init__(self, outcome_type):
        import numpy as np

        self._outcome = outcome_type
        self._rng = np.random.default_rng(0)
        self._refs = itertools.count()
        self._results: dict[int, list] = {}
        self.policies: dict[str, object] = {}
        """run folder -> the PolicyConfig trained there, for the instant design"""

    def groups(self, specs, parts=1):
        return [list(specs)] if specs else []

    def submit(self, specs, early_stop=None):
        ref = next(self._refs)
        self._results[ref] = [
            self._outcome(
                spec.key(), f"/instant/{spec.key()}", (float(self._rng.normal(100.0, 10.0)),), 0.0, spec.total_steps, True
            )
            for spec in specs
        ]
        self.policies.update({f"/instant/{spec.key()}": spec.policy for spec in specs})
        return ref

    def wait(self, refs, timeout=None):
        return list(refs)[:1]

    def outcomes(self, ref, specs, cache_dir):
        return self._results.pop(ref)


@dataclasses.dataclass(frozen=True)
class InstantDesign:
    """What the driver reads of a HardwareReport, computed from the candidate's parameters."""

    luts: int
    latency_s: float
    energy_per_action_j: float
    fits: bool = True
    over: tuple[str, ...] = ()
    bram36: float = 0.0
    dsps: int = 0
    throughput_fps: float = 1e6
    latency_cycles: int = 100
    power_w: float = 0.1
    target_fps: float | None = None
    ffs: int = 0
    layers: tuple = ()
    estimator: str = "instant"

    def folding(self) -> dict:
        return {}


def instant_design(policy) -> InstantDesign:
    return InstantDesign(policy.width * policy.core_bits * 10, policy.input_bits * 1e-7, policy.width * 1e-9)


def driver_rate(url: str, sampler: str, trials: int, run_dir: Path) -> float:
    import dse.study.scoring
    from dse.storage.settings import StudySettings
    from dse.storage.studies import open_study
    from dse.strategies.samplers import make_sampler
    from dse.study.baseline import Baseline
    from dse.study.driver import Driver
    from dse.study.tasks import TrainingOutcome
    from objectives import Fp32Band
    from search_spaces import SearchSpace
    from synthesis.estimate import SynthesisSettings
    from training import TrainSpec

    settings = StudySettings(
        env_id="Pendulum-v1", strategy="search", sampler=sampler, sampler_seed=0, seeds=2, template=TrainSpec("Pendulum-v1"),
        space=SearchSpace(), synthesis=dataclasses.asdict(SynthesisSettings()),
    )
    study = open_study(url, f"driver-{sampler}-{time.time_ns()}", make_sampler(settings))
    executor = InstantExecutor(TrainingOutcome)
    driver = Driver(run_dir, settings, study, executor, run_dir / "cache", log=lambda line: None)

    def designs(policy_dir, settings, cache_dir):
        design = instant_design(executor.policies[str(policy_dir)])
        return [design], design

    dse.study.scoring.designs = designs
    driver.fp32 = Baseline(Fp32Band.from_seed_returns([88.0, 102.0]), (88.0, 102.0), (), None)
    started = time.perf_counter()
    driver.run(trials)
    return len(study.get_trials(deepcopy=False)) / (time.perf_counter() - started)


def bare_optuna_rate(url: str, sampler: str, trials: int) -> float:
    from dse.storage.settings import StudySettings
    from dse.storage.studies import open_study
    from dse.strategies.samplers import make_sampler
    from search_spaces import SearchSpace
    from training import TrainSpec

    settings = StudySettings(
        env_id="Pendulum-v1", strategy="search", sampler=sampler, sampler_seed=0, seeds=2, template=TrainSpec("Pendulum-v1"),
        space=SearchSpace(), synthesis={},
    )
    study = open_study(url, f"bare-{sampler}-{time.time_ns()}", make_sampler(settings))
    started = time.perf_counter()
    for _ in range(trials):
        trial = study.ask()
        candidate = settings.space.suggest(trial)
        luts, latency, energy = candidate.width * candidate.core_bits * 10.0, candidate.input_bits * 1e-7, candidate.width * 1e-9
        study.tell(trial, [100.0, luts, latency, energy])
    return trials / (time.perf_counter() - started)


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--samplers", default="random,tpe")
    parser.add_argument("--storage", default=None, help="also measure on this storage URL (e.g. postgresql://...)")
    args = parser.parse_args()

    kinds = {
        "journal file (run folder's study.log)": lambda folder, name: str(folder / f"{name}.log"),
        "sqlite (Optuna's tables)": lambda folder, name: f"sqlite:///{folder / name}",
    }
    if args.storage:
        kinds[args.storage.split(":")[0]] = lambda folder, name: args.storage
    print(f"{args.trials} trials per measurement; goal {GOAL_TRIALS_PER_S:.0f} trials/s")
    print("| storage | sampler | driver trials/s | bare Optuna trials/s | driver / bare | driver / goal |")
    print("|---|---|---|---|---|---|")
    for kind, url_of in kinds.items():
        for sampler in args.samplers.split(","):
            with tempfile.TemporaryDirectory() as folder:
                rate = driver_rate(url_of(Path(folder), "driver.db"), sampler, args.trials, Path(folder))
                bare = bare_optuna_rate(url_of(Path(folder), "bare.db"), sampler, args.trials)
            print(f"| {kind} | {sampler} | {rate:.1f} | {bare:.1f} | {rate / bare:.2f} | {rate / GOAL_TRIALS_PER_S:.2f} |")


if __name__ == "__main__":
    main()
