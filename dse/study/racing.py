"""Seed racing (``--seed-racing K``): a candidate trains K of its seeds first, and the rest only while its parity
verdict or its place on the front is uncertain.

After the first K of its N seeds, with their mean return m, the candidate's all-seed
mean return (what it would be scored with) is bounded one-sidedly:
- statistically, by m + z s sqrt((N - K) / (N K)), with z = 1.645 (95%) and s the
  spread of one seed's return pooled over the candidates scored so far (the FP32
  baseline's spread until two candidates have several seeds): the all-seed mean differs
  from m by (N - K) / N times the difference of the other seeds' mean from m, whose
  variance is s^2 (1 / (N - K) + 1 / K);
- and, where the env's returns have a ceiling, also by (K m + (N - K) b) / N, with b the
  ceiling: no seed can return more. A ceiling shows as an atom at the top of the returns:
  b is the best return any one seed of the study has reached (the FP32 baseline's seeds,
  every candidate's and its own), and counts as the ceiling when at least
  ``CEILING_SEEDS`` seeds reached exactly it (InvertedPendulum's 1,000: episodes end at
  1,000 steps of reward 1). Continuous returns never tie, so elsewhere the statistical
  bound alone decides. At a ceiling it is the ceiling that decides: rare failed seeds
  make s wide and put the statistical bound above anything a seed can return, and no
  candidate could be ruled out against a front that reached the ceiling.
The candidate stops at K seeds ("raced out") when it fits nowhere (as priced before
training), or when the bound is
- below the FP32 band's lower edge: it cannot reach parity; or
- no better than the return of a feasible design already found that matches or beats
  every design it fits at: none of its designs could join the front. At a ceiling, a
  candidate whose first seeds reached it deploys the first of them whatever its other
  seeds return (a candidate deploys its best seed, the first of those that tie), so its
  designs are that policy's, known now. Otherwise its designs are
  those priced before training (an untrained policy of its shape), made cheaper by how
  much cheaper a trained design can come out: LUTs and energy times the 5% quantile of
  trained over priced among the designs of the candidates scored so far (their least
  while there are fewer than ``QUANTILE_PAIRS``; at most 1). A trained policy's zero
  weights and dead units shrink its designs by a varying amount, from seed to seed.
Otherwise it trains every seed. The only error racing can make is a candidate raced out
that more seeds would have brought to parity or onto the front (or, through the front
test, one whose trained designs come out cheaper than that allowance). A raced-out
candidate is scored as any trial with the seeds it trained (``raced_out`` says why).
Early stopping is off under racing: a stop rule would judge the first seeds apart from
the rest. docs/results/strategies/ measures racing against training every seed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import optuna

from dse.storage.settings import StudySettings
from dse.storage.trials import candidate_of, counts_toward_budget
from dse.study import scoring
from dse.study.pool import ActiveTrial
from dse.study.pricing import HardwarePricer, hardware_objectives
from objectives import Fp32Band
from objectives.pareto import RunningFront
from objectives.parity import seed_std
from synthesis.post_synth import folding_of

Z = 1.645
"""one-sided 95% normal quantile of the bound on a candidate's all-seed mean return"""
CEILING_SEEDS = 3
"""seeds that must share the best return seen, exactly, for it to count as the env's ceiling"""
QUANTILE_PAIRS = 20
"""designs (trained and priced) it takes for the 5% quantile of their ratio; fewer: the least ratio"""


class SeedRace:
    """Decides, for a candidate whose first seeds are trained, whether its other seeds are worth training."""

    def __init__(self, settings: StudySettings, study: optuna.Study, band: Fp32Band, baseline_returns: Sequence[float],
                 pricer: HardwarePricer, designs: Callable | None = None):  # fmt: skip
        """``designs``: a trained policy's designs as the trial's scoring prices them (None: ``dse.study.scoring.designs``,
        looked up when used, as the recorder does)."""
        self.first = settings.seed_racing
        self.study = study
        self.band = band
        self.baseline_returns = list(baseline_returns)
        self.pricer = pricer
        self.designs = designs

    @property
    def on(self) -> bool:
        return self.first > 0

    def start(self, active: ActiveTrial) -> None:
        """A new candidate trains its first seeds only."""
        if self.on and active.repeat_of is None:
            active.seeds_now = self.first

    def racing(self, active: ActiveTrial) -> bool:
        """Its first seeds are trained and the rest not yet asked for."""
        return active.seeds_now is not None and active.seeds_now < len(active.specs)

    def verdict(self, active: ActiveTrial, front: RunningFront) -> str | None:
        """Why the candidate stops at its first seeds, or None: it trains every seed (``active.seeds_now`` cleared)."""
        returns = [outcome.mean_return for outcome in active.ordered()]
        scored = self._scored()  # read once: the ceiling, the spread and the cost allowance all come from them
        seed_returns = [trial.user_attrs.get("seed_returns", []) for trial in scored]
        ceiling = self._ceiling(returns, seed_returns)
        bound = self._bound(returns, len(active.specs), ceiling, seed_returns)
        if bound < self.band.lower:
            return (f"raced out after {len(returns)} seeds: the bound on its return, {bound:.1f}, is below the FP32 "
                    f"band's lower edge {self.band.lower:.1f}")  # fmt: skip
        if ceiling is not None and max(returns) >= ceiling:  # its deployed seed is settled: its designs are known
            deployed = active.ordered()[int(np.argmax(returns))]
            price = self.designs or scoring.designs
            reports, _ = price(Path(deployed.run_dir), self.pricer.synthesis, self.pricer.synth_cache)
            designs = np.array([hardware_objectives(r) for r in reports if r.fits]).reshape(-1, self.pricer.width)
            priced = "as trained"
        else:
            designs = self.pricer.fitting(active.candidate) * self._cost_factors(scored)
            priced = "as priced before training"
        if len(designs) == 0:
            return f"raced out after {len(returns)} seeds: it fits the device at no folding ({priced})"
        if all(front.covers((bound, *design)) for design in designs):
            return (f"raced out after {len(returns)} seeds: at the bound on its return, {bound:.1f}, no design of it "
                    "would join the front")  # fmt: skip
        active.seeds_now = None
        return None

    def _bound(self, returns: list[float], seeds: int, ceiling: float | None, scored: list[list[float]]) -> float:
        """The bound on the mean return of all ``seeds`` of a candidate whose first seeds returned ``returns`` (module
        doc)."""
        variances = [seed_std(values) ** 2 for values in scored if len(values) > 1]
        spread = math.sqrt(float(np.mean(variances))) if len(variances) >= 2 else self.band.std
        first = len(returns)
        bound = float(np.mean(returns)) + Z * spread * math.sqrt((seeds - first) / (seeds * first))
        if ceiling is not None:
            bound = min(bound, (sum(returns) + (seeds - first) * ceiling) / seeds)
        return bound

    def _ceiling(self, returns: list[float], scored: list[list[float]]) -> float | None:
        """The best return any seed of the study has reached, where at least ``CEILING_SEEDS`` reached exactly it."""
        seen = np.array([*self.baseline_returns, *returns, *(value for values in scored for value in values)])
        best = float(seen.max())
        return best if np.sum(seen >= best - 1e-9 * max(1.0, abs(best))) >= CEILING_SEEDS else None

    def _cost_factors(self, scored: list[optuna.trial.FrozenTrial]) -> np.ndarray:
        """(LUTs, latency, energy) factors from priced to the cheapest a trained design plausibly comes out (module doc);
        ones until a candidate is scored; no energy factor where energy is not estimated."""
        energy = self.pricer.width == 3
        ratios = []
        for trial in scored:
            priced = {tuple(folding_of(design)): design for design in self.pricer.designs(candidate_of(trial))}
            for record in trial.user_attrs.get("designs", []):
                design = priced.get(tuple(tuple(pair) for pair in record["folding"]))
                if design is not None and design.luts > 0 and (not energy or design.energy_per_action_j > 0):
                    ratios.append((record["luts"] / design.luts,
                                   record["energy_j"] / design.energy_per_action_j if energy else 1.0))  # fmt: skip
        if not ratios:
            return np.ones(self.pricer.width)
        ratios = np.array(ratios)
        least = np.quantile(ratios, 0.05, axis=0) if len(ratios) >= QUANTILE_PAIRS else ratios.min(axis=0)
        return np.array([min(least[0], 1.0), 1.0, min(least[1], 1.0)][: self.pricer.width])

    def _scored(self) -> list[optuna.trial.FrozenTrial]:
        trials = self.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        return [trial for trial in trials if counts_toward_budget(trial)]
