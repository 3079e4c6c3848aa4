"""Asking for new candidates and admitting them: a candidate already told is answered from the study (a repeat: no
training, no budget), one still between rungs (or racing its seeds) is a failed repeat, a new one starts its
trainings.

A sampled strategy (search, random) spends trainings only on new candidates; the
staged rule and sweeps train what their plan asks, as published. After
``IDLE_ASKS`` repeats in a row, or once every candidate of the space is known, a
sampled strategy stops asking: its sampler has settled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import optuna

from dse.storage.settings import SAMPLED, StudySettings
from dse.strategies.proposers import Proposer
from dse.study.pool import ActiveTrial
from dse.study.progress import StudyProgress
from dse.study.rungs import Rungs
from search_spaces import Candidate

IDLE_ASKS = 50
"""asks in a row that train nothing (repeats) after which a search stops: its sampler has settled"""


@dataclass
class StudyState:
    """What the driver knows of its study beyond the storage: trials under way, candidates told, the counts."""

    progress: StudyProgress
    rungs: Rungs
    active: dict[int, ActiveTrial] = field(default_factory=dict)
    told: dict[Candidate, int] = field(default_factory=dict)
    """candidate -> the trial that trained it"""

    def training(self) -> list[Candidate]:
        """Candidates training now or paused at a rung (a repeat waiting on another trial's trainings is not one more)."""
        running = [active.candidate for active in self.active.values() if active.repeat_of is None]
        return running + [active.candidate for active in self.rungs.paused.values()]

    def known(self) -> set[Candidate]:
        """Candidates told or training: a sampled strategy never trains one of them again."""
        return set(self.told) | set(self.training())

    def spending(self) -> int:
        """Candidates trained or training: what the budget counts."""
        return self.progress.finished + len(self.training())


class Asker:
    """Asks the proposer (or Optuna's sampler) for candidates and admits them; ``launch`` starts an admitted trial."""

    def __init__(self, settings: StudySettings, study: optuna.Study, proposer: Proposer, state: StudyState,
                 launch: Callable[[ActiveTrial], None], log: Callable[[str], None]):  # fmt: skip
        self.settings = settings
        self.study = study
        self.proposer = proposer
        self.state = state
        self.launch = launch
        self.log = log
        self.settled = False
        """the sampler asks only what is known: stop asking"""

    def fill(self, budget: int, free_worker: Callable[[], bool]) -> None:
        """Start trials while a worker is free and the budget (and, for a planned strategy, the plan) allows.

        The budget counts candidates trained: a repeat costs none of it.
        """
        idle = 0
        while not self.settled and free_worker() and self.state.spending() < budget:
            if self.proposer.chooses():
                running = {active.candidate for active in self.state.active.values()}
                chosen = self.proposer.propose(self.state.known(), self.state.training(), running)
                if chosen is None:
                    if self.settings.strategy in SAMPLED:
                        self._stop_asking("every candidate of the space is known")
                    return
                self.study.enqueue_trial(chosen.params())
            if self._admit(self.study.ask()):
                idle = 0
                continue
            idle += 1
            if len(self.state.known()) >= self.settings.space.size:
                self._stop_asking("every candidate of the space is known")
            elif idle >= IDLE_ASKS:
                self._stop_asking(f"the sampler asked {idle} known candidates in a row")

    def _stop_asking(self, why: str) -> None:
        self.settled = True
        who = "random strategy" if self.settings.strategy == "random" else "search"
        self.log(f"{who} stops asking: {why} ({self.state.progress.finished} candidates trained)")

    def _admit(self, trial: optuna.Trial) -> bool:
        """Answer the trial from the study, or start (or join) its trainings.

        True when it spends budget: a candidate not trained or training before.
        """
        candidate = self.settings.space.suggest(trial)
        trial.set_user_attr("label", candidate.label)
        if candidate in self.state.told:
            self._tell_repeat(trial, self.study.get_trials(deepcopy=False)[self.state.told[candidate]])
            return False
        running = next((number for number, active in self.state.active.items()
                        if active.candidate == candidate and active.repeat_of is None), None)  # fmt: skip
        if (self.state.rungs.on or self.settings.seed_racing) and candidate in self.state.training():
            # under rungs a candidate's trainings pause and resume, under racing its seeds come in two turns: a repeat
            # cannot wait on one answer
            original = running if running is not None else next(
                number for number, active in self.state.rungs.paused.items() if active.candidate == candidate)
            trial.set_user_attr("repeat_of", original)
            trial.set_user_attr("trainings", 0)
            where = "between rungs" if self.state.rungs.on else "racing its seeds"
            trial.set_user_attr("fail_reason", f"repeat of trial {original}, which is still {where}")
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            self.state.progress.repeats += 1
            return False
        self.launch(ActiveTrial(trial, candidate, self.settings.specs(candidate), repeat_of=running))
        return running is None

    def _tell_repeat(self, trial: optuna.Trial, original: optuna.trial.FrozenTrial) -> None:
        """A candidate already told: the same answer again, with no training and no budget spent."""
        trial.set_user_attr("repeat_of", original.number)
        trial.set_user_attr("trainings", 0)
        self.state.progress.repeats += 1
        if original.state != optuna.trial.TrialState.COMPLETE:
            trial.set_user_attr("fail_reason", f"repeat of trial {original.number}, which failed")
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            return
        for name, value in original.constraints.items():
            trial.set_constraint(name, value)
        self.study.tell(trial, list(original.values))
