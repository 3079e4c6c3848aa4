"""Asynchronous successive halving (ASHA) across env steps, for ``--fidelity-rungs`` above 1.

A new candidate trains to the first rung and pauses there (its training saved at
the driver, ``dse.study.executor``); whenever a worker is free, the driver first
promotes a paused candidate that ranks in the best 1/factor of the candidates that
reached its rung, by non-dominated rank of its return there with the hardware its
designs will cost (priced before training), highest rung first. A promoted
candidate resumes, not restarts, to the next rung; at the last rung it is scored as
any trial. Asynchronous, because a rung never waits to be full: with Ray workers a
synchronous rung would leave workers idle until its slowest candidate is done. When
nothing is training and nothing can be promoted, the paused candidates are told
PRUNED, with what they reached. The trials' Optuna state while paused is RUNNING; a
restarted driver takes them back as paused.

A rung is recorded on its trial as lists with one entry per rung reached
(``rung_returns``, ``rung_env_steps``, ``rung_cpu_seconds``); ``rung_returns`` is written
last, so a trial that has it has the rest.
"""

from __future__ import annotations

from collections.abc import Callable

import moocore
import numpy as np
import optuna

from dse.storage.settings import StudySettings
from dse.storage.trials import candidate_of
from dse.study.pool import ActiveTrial, TrainingPool
from dse.study.pricing import HardwarePricer
from search_spaces import Candidate

ACCOUNTS = ("rung_env_steps", "rung_cpu_seconds")


def rung_accounts(attrs: dict) -> dict[str, list]:
    """The env steps and CPU seconds of the rungs a trial reached: one entry per rung return recorded."""
    reached = len(attrs.get("rung_returns", []))
    return {name: list(attrs.get(name, []))[:reached] for name in ACCOUNTS}


def rungs_spent(active: ActiveTrial, attrs: dict) -> dict:
    """A candidate's compute attributes for the rungs it reached (``attrs``: its trial's, with the rung accounting)."""
    return {
        "trainings": len(active.specs),
        "new_trainings": len(active.specs),
        "env_steps": attrs["rung_env_steps"][-1],
        "train_env_steps": attrs["rung_env_steps"][-1],
        "train_cpu_seconds": attrs["rung_cpu_seconds"][-1],
    }


class Rungs:
    """The rungs of a study: candidates paused at one, the returns each reached, the env steps spent on them all."""

    def __init__(self, settings: StudySettings, study: optuna.Study, pool: TrainingPool, pricer: HardwarePricer,
                 log: Callable[[str], None]):  # fmt: skip
        self.settings = settings
        self.steps = settings.rung_steps()
        """env steps of each rung; one rung (the last) when the study has none"""
        self.study = study
        self.pool = pool
        self.pricer = pricer
        self.log = log
        self.paused: dict[int, ActiveTrial] = {}  # trial number -> a candidate paused at a rung, waiting for promotion
        self._returns: dict[int, list[float]] = {}  # trial number -> its mean return at each rung it reached
        self._candidates: dict[int, Candidate] = {}
        self.spent_env_steps = 0
        """env steps of every training of this study so far, all rungs (what a multi-fidelity study is charged)"""

    @property
    def on(self) -> bool:
        return len(self.steps) > 1

    def is_last(self, rung: int) -> bool:
        return rung == len(self.steps) - 1

    def until(self, rung: int) -> int | None:
        """The env step a training to ``rung`` pauses at; None at the last rung (it trains to the end)."""
        return None if self.is_last(rung) else self.steps[rung]

    def restore(self, frozen: optuna.trial.FrozenTrial) -> bool:
        """A trial of the study read back: its rung returns kept; True when it was paused (and is paused again)."""
        if "rung_returns" not in frozen.user_attrs:
            return False
        self._returns[frozen.number] = list(frozen.user_attrs["rung_returns"])
        self._candidates[frozen.number] = candidate_of(frozen)
        if frozen.state != optuna.trial.TrialState.RUNNING:
            return False
        trial = optuna.Trial(self.study, frozen._trial_id)
        accounts = rung_accounts(frozen.user_attrs)
        for name, values in accounts.items():  # a driver killed while recording a rung may have left one more
            trial.set_user_attr(name, values)
        candidate = candidate_of(frozen)
        rung = len(frozen.user_attrs["rung_returns"]) - 1
        self.paused[frozen.number] = ActiveTrial(trial, candidate, self.settings.specs(candidate), rung=rung)
        self.spent_env_steps += accounts["rung_env_steps"][-1]
        return True

    def reach(self, active: ActiveTrial, threads: int) -> None:
        """A candidate's seeds all paused at its rung: recorded on its trial, then paused until promoted or pruned."""
        trial, outcomes, attrs = active.trial, active.ordered(), active.trial.user_attrs
        steps = self.settings.seeds * outcomes[0].env_step
        mean_return = float(np.mean([np.mean(outcome.returns) for outcome in outcomes]))
        returns = self._returns.setdefault(trial.number, [])
        returns.append(mean_return)
        self._candidates[trial.number] = active.candidate
        accounts = rung_accounts(attrs)
        env_steps = accounts["rung_env_steps"] + [steps]
        self.spent_env_steps += steps - (env_steps[-2] if len(env_steps) > 1 else 0)
        cpu = round(sum(outcome.wall_seconds for outcome in outcomes) * threads, 3)
        trial.set_user_attr("rung_env_steps", env_steps)
        trial.set_user_attr("rung_cpu_seconds", accounts["rung_cpu_seconds"] + [cpu])
        trial.set_user_attr("trained_on", sorted(set(attrs.get("trained_on", []))
                                                 | {outcome.node for outcome in outcomes}))  # fmt: skip
        trial.set_user_attr("rung_returns", returns)
        active.outcomes = {}
        self.paused[trial.number] = active
        self.log(f"#{trial.number} {active.candidate.label}: rung {active.rung + 1} of {len(self.steps)} "
                 f"({outcomes[0].env_step:,} env steps): return {mean_return:.1f}")

    def promotable(self) -> ActiveTrial | None:
        """A paused candidate in the best 1/factor of those that reached its rung (highest rung first), or None."""
        for rung in reversed(range(len(self.steps) - 1)):
            reached = {number: returns[rung] for number, returns in self._returns.items() if len(returns) > rung}
            for number in self._promoted(reached):
                active = self.paused.get(number)
                if active is not None and active.rung == rung:
                    return active
        return None

    def _promoted(self, reached: dict[int, float]) -> list[int]:
        """The trials of a rung that earn promotion, best first: the best 1/factor of all that reached it, ranked
        together or, with ``fidelity_promotion="within-width"``, each by its rank among its own width's (as a share of
        that width's count; narrow networks learn slower, and ranked across widths a rung prunes them for it)."""
        quota = len(reached) // self.settings.fidelity_factor
        if self.settings.fidelity_promotion == "all":
            return self._best(reached, quota)
        widths: dict[int, dict[int, float]] = {}
        for number, value in reached.items():
            widths.setdefault(self._candidates[number].width, {})[number] = value
        place = {number: index / len(group) for group in widths.values()
                 for index, number in enumerate(self._best(group, len(group)))}  # fmt: skip
        return sorted(reached, key=lambda number: (place[number], -reached[number]))[:quota]

    def _best(self, returns: dict[int, float], keep: int) -> list[int]:
        """The ``keep`` trials best ranked by non-dominated sorting of their return with the hardware of their
        candidate's designs (priced before training); a candidate ranks as its best design; ties go to the higher return."""
        if keep == 0:
            return []
        numbers = list(returns)
        rows, owners = [], []
        for number in numbers:
            for design in self.pricer.ranked(self._candidates[number]):
                rows.append([-returns[number], *design])
                owners.append(number)
        ranks = moocore.pareto_rank(np.array(rows, dtype=float))
        best = {number: min(rank for rank, owner in zip(ranks, owners) if owner == number) for number in numbers}
        return sorted(numbers, key=lambda number: (best[number], -returns[number]))[:keep]

    def promote(self, active: ActiveTrial) -> None:
        """Off the paused list, to the next rung (the driver resumes its trainings)."""
        del self.paused[active.trial.number]
        active.rung += 1
        self.log(f"#{active.trial.number} {active.candidate.label}: promoted to rung {active.rung + 1}")

    def prune(self) -> list[ActiveTrial]:
        """Nothing trains and nothing can be promoted: every paused candidate is told PRUNED with what it reached."""
        pruned = [active for _, active in sorted(self.paused.items())]
        for active in pruned:
            trial = active.trial
            for name, value in {"rung_reached": active.rung + 1, **rungs_spent(active, trial.user_attrs)}.items():
                trial.set_user_attr(name, value)
            self.study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            self.pool.forget(active.specs)
        if pruned:
            self.log(f"{len(pruned)} candidate(s) stopped below the last rung (told PRUNED)")
        self.paused.clear()
        return pruned

    def last_leg(self, active: ActiveTrial, attrs: dict) -> dict:
        """A multi-fidelity trial's last leg (or its failure) in its rung accounting; the study's env steps so far."""
        reached = active.trial.user_attrs
        before = reached.get("rung_env_steps", [])
        steps = attrs["env_steps"] if active.failure is None else (before[-1] if before else 0)
        self.spent_env_steps += steps - (before[-1] if before else 0)
        rung_attrs = {"rung_reached": active.rung + (active.failure is None), "spent_env_steps": self.spent_env_steps}
        if active.failure is None:
            rung_attrs["rung_env_steps"] = [*before, steps]
            rung_attrs["rung_cpu_seconds"] = [*reached.get("rung_cpu_seconds", []), attrs["train_cpu_seconds"]]
        elif before:  # the rungs it reached are charged; the leg that failed left no account
            rung_attrs.update(rungs_spent(active, reached))
        return rung_attrs
