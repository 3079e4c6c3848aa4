"""Optuna's samplers for a study, and the candidates a search opens with (enqueued when the study is made)."""

from __future__ import annotations

import optuna

from dse.storage.settings import StudySettings
from search_spaces import Candidate


def startup_candidates(settings: StudySettings) -> list[Candidate]:
    """The candidates a search opens with, enqueued when the study is made (none for "random": Optuna's own start-up).

    "staged": the staged rule's first sweep (every core bits value at the widest width,
    8-bit input and output), the region most likely to reach parity, which the rule
    would train first too; "space-filling": ``SearchSpace.space_filling``, every value
    of every axis once.
    """
    if settings.strategy != "search" or settings.startup == "random":
        return []
    if settings.startup == "staged":
        from dse.strategies.staged import StagedRule

        return StagedRule(settings.space).stages()[0]
    return settings.space.space_filling(settings.sampler_seed)


def make_sampler(settings: StudySettings, trials_so_far: int = 0) -> optuna.samplers.BaseSampler:
    """The strategy's sampler. Planned trials are enqueued with fixed parameters, so any sampler serves them.

    A search's model-based samplers start modelling right after its start-up
    candidates (``startup_candidates``), and NSGA-II's population is their number;
    with the "random" start-up they keep Optuna's defaults (10 random trials, a
    population of 50). Every sampler reads the constraints the driver sets on each
    trial (parity, fit, trained), so infeasible trials rank below feasible ones. A
    resumed study seeds it with ``sampler_seed + trials_so_far``: re-seeding with the
    study's own seed would replay the first run's opening draws.
    """
    seed = settings.sampler_seed + trials_so_far
    name = settings.sampler if settings.strategy == "search" else "random"
    startup = len(startup_candidates(settings))
    sizes = {} if startup == 0 else {"n_startup_trials": startup}
    if name == "tpe":
        # constant liar: trials still training count as bad, so parallel asks spread out
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True, **sizes)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, **({} if startup == 0 else {"population_size": max(2, startup)}))
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed, **sizes)
    return optuna.samplers.RandomSampler(seed=seed)  # also serves the enqueued picks of the random and ehvi strategies

