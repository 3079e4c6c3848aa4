"""Who picks a study's next candidate: a plan (the staged rule, a sweep), the random strategy, the hardware-aware
search, or an Optuna sampler.

A proposer that picks the candidate itself has the driver enqueue it, so the study,
its storage and the dashboard see ordinary trials; with an Optuna sampler the
driver just asks. A sampled strategy (search, random) proposes only candidates not
told or training; a plan proposes what its stage still wants.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np
import optuna
from tqdm import tqdm

from dse.storage.settings import StudySettings
from dse.storage.trials import PARAMS, candidate_of, counts_toward_budget, feasible_points
from dse.strategies.hypervolume import HypervolumeSearch, Observed
from dse.strategies.staged import StagedRule
from dse.strategies.sweep import Sweep
from objectives import Fp32Band
from objectives.pareto import losses
from search_spaces import Candidate


class Proposer(Protocol):
    def chooses(self) -> bool:
        """It picks the next candidate (and the driver enqueues it) rather than an Optuna sampler."""

    def propose(self, known: set[Candidate], training: list[Candidate], running: set[Candidate]) -> Candidate | None:
        """The next candidate; None when there is none now: a plan waits on verdicts, a sampled strategy knows every
        candidate. ``known``: told or training; ``training``: trained now or paused at a rung (a repeat waiting on another
        trial's trainings is not one more); ``running``: the candidates of every trial under way."""


class SamplerProposer:
    """An Optuna sampler (``--sampler tpe|nsga2|gp|random``) asks: nothing to pick here."""

    def chooses(self) -> bool:
        return False

    def propose(self, known: set[Candidate], training: list[Candidate], running: set[Candidate]) -> Candidate | None:
        raise RuntimeError("an Optuna sampler proposes through study.ask(), not here")


class PlanProposer:
    """The staged rule or a sweep: the first candidate its current stage wants that is not under way."""

    def __init__(self, planner: StagedRule | Sweep, study: optuna.Study):
        self.planner = planner
        self.study = study

    def chooses(self) -> bool:
        return nothing_waiting(self.study)

    def propose(self, known: set[Candidate], training: list[Candidate], running: set[Candidate]) -> Candidate | None:
        plan = self.planner.plan(verdicts(self.study))
        wanted = [candidate for candidate in plan.wanted if candidate not in running]
        return wanted[0] if wanted else None


def verdicts(study: optuna.Study) -> dict[Candidate, bool]:
    """FP32 parity of every finished candidate (also of one whose design failed); a failed training did not reach it."""
    found = {}
    for trial in study.get_trials(deepcopy=False):
        if counts_toward_budget(trial) and len(trial.params) == len(PARAMS):
            found[candidate_of(trial)] = bool(trial.user_attrs.get("parity_feasible", False))
    return found


def nothing_waiting(study: optuna.Study) -> bool:
    """No trial waits to be asked (one a stopped driver left to redo, or enqueued but not asked): a proposer's own
    pick waits until those are asked, since Optuna's ask takes the oldest waiting trial, not the newest."""
    return not study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,))


class RandomProposer:
    """Uniform over the candidates not told or training (random without replacement).

    Seeded by the sampler seed and the trials so far, so a resumed study draws on.
    """

    def __init__(self, settings: StudySettings, study: optuna.Study):
        self.settings = settings
        self.study = study

    def chooses(self) -> bool:
        return nothing_waiting(self.study)

    def propose(self, known: set[Candidate], training: list[Candidate], running: set[Candidate]) -> Candidate | None:
        unknown = [candidate for candidate in self.settings.space.candidates() if candidate not in known]
        if not unknown:
            return None
        rng = np.random.default_rng([self.settings.sampler_seed, len(self.study.get_trials(deepcopy=False))])
        return unknown[int(rng.integers(len(unknown)))]


class HypervolumeProposer:
    """``HypervolumeSearch``'s pick from the trained candidates so far and those training, once the start-up candidates
    (and any trial to redo) are asked.

    ``price`` gives a candidate's fitting designs before training (LUTs, latency, energy); every candidate of the
    space is priced when the first pick is made.
    """

    def __init__(self, settings: StudySettings, study: optuna.Study, band: Fp32Band,
                 price: Callable[[Candidate], np.ndarray], log: Callable[[str], None]):  # fmt: skip
        self.settings = settings
        self.study = study
        self.band = band
        self.price = price
        self.log = log
        self._search: HypervolumeSearch | None = None

    def chooses(self) -> bool:
        return nothing_waiting(self.study)

    def propose(self, known: set[Candidate], training: list[Candidate], running: set[Candidate]) -> Candidate | None:
        if all(candidate in known for candidate in self.settings.space.candidates()):
            return None
        observed = {}
        for trial in self.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
            if counts_toward_budget(trial):
                points = np.array(feasible_points(trial.user_attrs, trial.values), dtype=float).reshape(-1, len(trial.values))
                observed[candidate_of(trial)] = Observed(trial.values[0], losses(points),
                                                         tuple(trial.user_attrs.get("seed_returns", ())))
        return self._hypervolume_search().choose(observed, training, known)

    def _hypervolume_search(self) -> HypervolumeSearch:
        if self._search is None:
            space = self.settings.space
            self.log(f"pricing the designs of the space's {space.size} candidates before training")
            candidates = tqdm(space.candidates(), total=space.size, desc="pricing", unit="candidate", leave=False,
                              disable=None)  # a bar in a terminal only: minutes of a large space are not silent
            predicted = {candidate: self.price(candidate) for candidate in candidates}
            self._search = HypervolumeSearch(space, self.band, predicted, self.settings.sampler_seed)
        return self._search


def proposer_for(settings: StudySettings, study: optuna.Study, band: Fp32Band,
                 price: Callable[[Candidate], np.ndarray], log: Callable[[str], None]) -> Proposer:  # fmt: skip
    """The study's proposer, by its strategy (and, for a search, its sampler)."""
    if settings.strategy == "staged":
        return PlanProposer(StagedRule.of(settings), study)
    if settings.strategy == "sweep":
        return PlanProposer(Sweep(settings.sweep), study)
    if settings.strategy == "random":
        return RandomProposer(settings, study)
    if settings.sampler == "ehvi":
        return HypervolumeProposer(settings, study, band, price, log)
    return SamplerProposer()
