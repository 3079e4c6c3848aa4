"""A study's settings record: everything that fixes what its trials mean, kept in the study so a resume can check it."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from dse.storage.trials import PARAMS
from objectives.early_stop import early_stop_rule
from objectives.score import Objective, objectives_for
from search_spaces import Candidate, SearchSpace
from synthesis import HARDWARE_MODEL_VERSION
from training import RESULTS_VERSION, PolicyConfig, TrainSpec

SAMPLERS = ("tpe", "nsga2", "gp", "random", "ehvi")
"""Optuna's samplers, and ``dse.strategies.hypervolume``'s hardware-aware search (its picks are enqueued)"""
STARTUPS = ("staged", "space-filling", "random")
"""how a search opens: the staged rule's first sweep, a Latin hypercube on the grid, or Optuna's random start-up"""
SAMPLED = ("search", "random")
"""strategies whose candidates an Optuna sampler draws"""
PLANNED = ("staged", "sweep")
"""strategies whose candidates a plan (``dse.strategies.staged``) fixes; their trials are enqueued"""
PROMOTIONS = ("all", "within-width")
"""which candidates a rung of a multi-fidelity study ranks together for promotion"""
SCANS = ("anywhere", "down")
"""where the paper is silent, "the smallest value that matches": the smallest of the whole sweep that matches
(anywhere), or scanning down from the most precise value until the first that fails (down: one candidate at a time)"""
NO_MATCH = ("most-precise", "stop")
"""where the paper is silent, a stage where no value matches: keep its most precise value and go on, or stop with no pick"""
SETTINGS_ATTR = "dse_settings"
STAGED_PICK_ATTR = "staged_pick"
BASELINE_FILE = "baseline.json"
SEARCH_VERSION = 2
"""how a study asks and scores: 1, folding was a search axis and a trial one design; 2, every trained policy is
mapped at every throughput target, and repeats are answered without training"""

STRATEGY_FIELDS: dict[str, tuple[str, ...]] = {
    "sampler": ("search",),
    "startup": ("search",),
    "sampler_seed": SAMPLED,
    "fidelity_rungs": SAMPLED,
    "fidelity_factor": SAMPLED,
    "fidelity_promotion": SAMPLED,
    "seed_racing": SAMPLED,
    "staged_scan": ("staged",),
    "staged_no_match": ("staged",),
}
"""settings that only mean something under these strategies: the command line refuses one given with another
strategy, and a resumed study does not compare them where neither its strategy nor the one asked uses them"""
RUNG_FIELDS = ("fidelity_factor", "fidelity_promotion")
"""settings that only mean something with two or more fidelity rungs"""


class StudyInputError(ValueError):
    """A study that cannot be started or continued as asked: the message names the value and what is allowed."""


@dataclass(frozen=True)
class StudySettings:
    """Everything that fixes what a study's trials mean; a resumed study must ask for the same."""

    env_id: str
    """gymnasium id of the task"""
    strategy: str
    """"search" (an Optuna sampler), "staged" (the paper's rule, docs/search.md) or "random" """
    sampler: str
    """Optuna sampler of the search strategy"""
    sampler_seed: int
    """seeds the sampler"""
    seeds: int
    """training seeds per candidate (0..seeds-1); a candidate's score is the mean over them"""
    template: TrainSpec
    """fidelity: algorithm, steps, hyperparameters, evaluation; its policy and seed are set per candidate"""
    space: SearchSpace
    """the candidates' ranges"""
    synthesis: dict
    """``synthesis.estimate.SynthesisSettings`` as a dict"""
    baseline_width: int = 256
    """hidden width of the FP32 baseline policy"""
    sweep: tuple[Candidate, ...] = ()
    """the candidates of a "sweep" study (``dse sweep``), in the order they are plotted"""
    early_stop: str = "off"
    """early-stop rule of the candidates' trainings (``objectives.early_stop``): off, conservative or aggressive"""
    startup: str = "staged"
    """how a search opens (STARTUPS; ``startup_candidates``)"""
    fidelity_rungs: int = 1
    """successive halving across env steps: every candidate trains to the first rung, the best 1/``fidelity_factor``
    of each rung (by non-dominated rank) resumes to the next; 1 trains every candidate to the end"""
    fidelity_factor: int = 3
    """the reduction factor between rungs: of env steps, and of the candidates promoted"""
    fidelity_promotion: str = "all"
    """which candidates a rung ranks together for promotion: all that reached it, or those of one width"""
    staged_scan: str = "anywhere"
    """the staged rule's "smallest value that matches": anywhere in the sweep, or scanning down to the first failure"""
    staged_no_match: str = "most-precise"
    """the staged rule at a stage where nothing matches: keep the most precise value, or stop with no pick"""
    seed_racing: int = 0
    """seed racing: a candidate trains this many seeds first, the rest only while its parity or place on the front is
    uncertain (``dse.study.racing``); 0: every seed at once"""
    results_version: int = RESULTS_VERSION
    """``training.RESULTS_VERSION`` the study's trials were trained and scored under"""
    hardware_model_version: int = HARDWARE_MODEL_VERSION
    """``synthesis.HARDWARE_MODEL_VERSION`` its designs were estimated with"""
    search_version: int = SEARCH_VERSION
    """``SEARCH_VERSION`` its trials were asked and scored under"""

    @property
    def objectives(self) -> tuple[Objective, ...]:
        """What its trials score: without energy on a Lattice part, whose energy is not estimated."""
        return objectives_for(energy=not self.synthesis.get("lattice"))

    def __post_init__(self) -> None:
        if self.strategy not in PLANNED + SAMPLED:
            raise StudyInputError(f"strategy {self.strategy!r} is unknown: choose one of search, staged, random")
        if (self.strategy == "sweep") != bool(self.sweep):
            raise StudyInputError("a sweep study needs its candidates, and only a sweep study has them")
        if self.sampler not in SAMPLERS:
            raise StudyInputError(f"sampler {self.sampler!r} is unknown: choose one of {', '.join(SAMPLERS)}")
        if self.staged_scan not in SCANS:
            raise StudyInputError(f"staged scan {self.staged_scan!r} is unknown: choose one of {', '.join(SCANS)}")
        if self.staged_no_match not in NO_MATCH:
            raise StudyInputError(f"staged no-match {self.staged_no_match!r} is unknown: choose one of {', '.join(NO_MATCH)}")
        if self.startup not in STARTUPS:
            raise StudyInputError(f"startup {self.startup!r} is unknown: choose one of {', '.join(STARTUPS)}")
        if self.seeds < 1:
            raise StudyInputError(f"seeds {self.seeds} is invalid: a candidate needs at least 1 seed")
        early_stop_rule(self.early_stop)  # an unknown mode is a one-line error
        if self.fidelity_promotion not in PROMOTIONS:
            raise StudyInputError(f"fidelity promotion {self.fidelity_promotion!r} is unknown: choose one of "
                                  f"{', '.join(PROMOTIONS)}")
        if self.seed_racing:
            self._check_racing()
        if self.fidelity_rungs < 1:
            raise StudyInputError(f"fidelity-rungs {self.fidelity_rungs} is invalid: it must be at least 1 (1: no rungs)")
        if self.fidelity_factor < 2:
            raise StudyInputError(f"fidelity-factor {self.fidelity_factor} is invalid: it must be at least 2")
        if self.fidelity_rungs > 1:
            if self.strategy not in SAMPLED:
                raise StudyInputError(
                    f"fidelity-rungs {self.fidelity_rungs} is for the search and random strategies: the {self.strategy} "
                    "strategy trains every candidate to the end, as published"
                )
            if self.early_stop != "off":
                raise StudyInputError(
                    f"early-stop {self.early_stop} cannot be combined with fidelity-rungs {self.fidelity_rungs}: "
                    "promotion between rungs replaces early stopping (use --early-stop off)"
                )
            first, learning_starts = self.rung_steps()[0], self.template.hyper.learning_starts
            if first <= learning_starts:
                raise StudyInputError(
                    f"fidelity rung 1 of {self.fidelity_rungs} would be {first:,} env steps, not above learning-starts "
                    f"{learning_starts:,}: use fewer --fidelity-rungs, a smaller --fidelity-factor or more --steps"
                )

    def _check_racing(self) -> None:
        if self.seeds < 2 or not 1 <= self.seed_racing < self.seeds:
            raise StudyInputError(f"seed-racing {self.seed_racing} is invalid with --seeds {self.seeds}: racing trains "
                                  "fewer seeds first than in all, so it needs 1 <= K < --seeds (and --seeds 2 or more)")
        if self.strategy not in SAMPLED:
            raise StudyInputError(f"seed-racing {self.seed_racing} is for the search and random strategies: the "
                                  f"{self.strategy} strategy reads every seed's verdict, as published")
        if self.fidelity_rungs > 1:
            raise StudyInputError(f"seed-racing {self.seed_racing} cannot be combined with fidelity-rungs "
                                  f"{self.fidelity_rungs}: both stop candidates early, by seeds and by env steps")
        if self.early_stop != "off":
            raise StudyInputError(f"early-stop {self.early_stop} cannot be combined with seed-racing {self.seed_racing}: "
                                  "a stop rule would judge the first seeds apart from the rest (use --early-stop off)")

    def rung_steps(self) -> tuple[int, ...]:
        """The env steps of each rung: ``--steps`` divided by the factor once per rung above, the last all of them."""
        total, rungs = self.template.total_steps, self.fidelity_rungs
        return tuple(total // self.fidelity_factor ** (rungs - 1 - rung) for rung in range(rungs))

    def spec(self, candidate: Candidate, seed: int) -> TrainSpec:
        policy = dataclasses.replace(
            self.template.policy,
            width=candidate.width,
            core_bits=candidate.core_bits,
            input_bits=candidate.input_bits,
            output_bits=candidate.output_bits,
            fp32=False,
        )
        return dataclasses.replace(self.template, policy=policy, seed=seed)

    def specs(self, candidate: Candidate) -> list[TrainSpec]:
        """The candidate's trainings, seeds 0..seeds-1."""
        return [self.spec(candidate, seed) for seed in range(self.seeds)]

    def baseline_specs(self) -> list[TrainSpec]:
        policy = PolicyConfig(width=self.baseline_width, fp32=True)
        return [dataclasses.replace(self.template, policy=policy, seed=seed) for seed in range(self.seeds)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "env_id": self.env_id,
            "strategy": self.strategy,
            "sampler": self.sampler,
            "sampler_seed": self.sampler_seed,
            "seeds": self.seeds,
            "template": self.template.to_dict(),
            "space": self.space.to_dict(),
            "synthesis": dict(self.synthesis),
            "baseline_width": self.baseline_width,
            "sweep": [candidate.params() for candidate in self.sweep],
            "early_stop": self.early_stop,
            "startup": self.startup,
            "fidelity_rungs": self.fidelity_rungs,
            "fidelity_factor": self.fidelity_factor,
            "fidelity_promotion": self.fidelity_promotion,
            "staged_scan": self.staged_scan,
            "staged_no_match": self.staged_no_match,
            "seed_racing": self.seed_racing,
            "results_version": self.results_version,
            "hardware_model_version": self.hardware_model_version,
            "search_version": self.search_version,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StudySettings:
        data = dict(data)
        data["template"] = TrainSpec.from_dict(data["template"])
        # studies made when folding was a search axis (search version 1) kept it in the space and the candidates
        data["space"] = SearchSpace(**{axis: tuple(values) for axis, values in data["space"].items() if axis != "foldings"})
        data["sweep"] = tuple(Candidate(**{name: params[name] for name in PARAMS}) for params in data.get("sweep", ()))
        # studies made before the versions were recorded: the first of each
        data.setdefault("results_version", 1)
        data.setdefault("hardware_model_version", 1)
        data.setdefault("search_version", 1)
        data.setdefault("startup", "random")  # before SEARCH_VERSION 2, Optuna's own random start-up
        return cls(**data)

    def differences(self, other: StudySettings) -> list[str]:
        """Settings that differ, as "name: stored -> asked" (json round trip makes tuples and lists compare); those
        neither study uses (``STRATEGY_FIELDS``, ``RUNG_FIELDS``) do not count."""
        mine, theirs = _flat(json.loads(json.dumps(self.to_dict()))), _flat(json.loads(json.dumps(other.to_dict())))
        idle = {name for name, strategies in STRATEGY_FIELDS.items()
                if self.strategy not in strategies and other.strategy not in strategies}
        if self.fidelity_rungs == other.fidelity_rungs == 1:
            idle.update(RUNG_FIELDS)
        return [f"{key}: {mine.get(key)!r} -> {theirs.get(key)!r}" for key in sorted(set(mine) | set(theirs))
                if key not in idle and mine.get(key) != theirs.get(key)]


def _flat(data: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat

