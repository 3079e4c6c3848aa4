"""Optuna's samplers for a study, and the candidates a search opens with (enqueued when the study is made)."""

from __future__ import annotations

import dataclasses

import optuna

from dse.storage.settings import StudySettings
from search_spaces import Candidate
from synthesis.lattice_parts import lattice_part, stream_ports
from training.envs import env_spaces


def startup_candidates(settings: StudySettings) -> list[Candidate]:
    """The candidates a search opens with, enqueued when the study is made (none for "random": Optuna's own start-up).

    "staged": the staged rule's first sweep (every core bits value at the widest width,
    8-bit input and output), the region most likely to reach parity, which the rule
    would train first too (on a part with too few pins for 8-bit inputs, at the most
    precise input bits that fit them); "space-filling": ``SearchSpace.space_filling``, every value
    of every axis once.
    """
    if settings.strategy != "search" or settings.startup == "random":
        return []
    if settings.startup == "staged":
        from dse.strategies.staged import StagedRule

        return _within_pins(StagedRule(settings.space).stages()[0], settings)
    return settings.space.space_filling(settings.sampler_seed)


def _within_pins(candidates: list[Candidate], settings: StudySettings) -> list[Candidate]:
    """On a part with fewer pins than a candidate's stream needs (a Lattice part), the candidate at the most precise
    input bits whose stream fits, or none: a candidate that fits at no folding tells the search nothing of the front.
    """
    part = lattice_part(settings.synthesis.get("lattice") or "")
    if part is None:
        return candidates
    obs_dim, action_low, _ = env_spaces(settings.env_id)
    action_dim = len(action_low)
    fitting = []
    for candidate in candidates:
        bits = [bits for bits in settings.space.input_bits
                if stream_ports(obs_dim, bits, action_dim, candidate.output_bits) <= part.io]  # fmt: skip
        if bits:
            fitting.append(dataclasses.replace(candidate, input_bits=max(bits)))
    return list(dict.fromkeys(fitting))


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

