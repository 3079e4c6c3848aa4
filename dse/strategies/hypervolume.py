"""The hardware-aware search (``--sampler ehvi``): the next candidate is the one whose designs are expected to grow the front most.

What a candidate's designs cost is known before it trains: an untrained policy of
its shape, priced at every throughput target (``dse.study.scoring.predicted_designs``),
costs what a trained one does up to the weights' sparsity. What it will return is
not: a Gaussian process over the trained candidates' mean returns (width on a log
scale, bits; scikit-learn; one isotropic Matern 5/2 length scale, so what a few
trainings show along one axis informs the others) predicts it with its uncertainty. A candidate's expected
hypervolume improvement is then the mean, over quantiles of its predicted return,
of the hypervolume its fitting designs would add to the current front if that
return reached parity (below the FP32 band's lower edge they are infeasible and add
nothing). Candidates still training count as if they returned their predicted mean
(a "kriging believer"), so parallel asks spread out.

The candidates it chooses among are those one step (one value of one axis) from a
trained candidate at parity, while any is left, then the whole space. A model of a
few trainings at one width extrapolates to the others as if they returned alike;
with returns that fall as a network shrinks, a jump to the cheapest corner fails
more often than it pays, and a step down from a candidate at parity is what the
staged rule takes too. The tabular benchmarks chose this over the unrestricted
choice (docs/results/strategies/README.md).

It is Optuna-compatible by construction: the driver enqueues the chosen candidate,
so the study, its storage and the dashboard see ordinary trials.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import astuple, dataclass

import numpy as np
from scipy.stats import norm
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

from objectives import Fp32Band
from objectives.pareto import Normalization, hypervolume, losses, pareto_mask
from search_spaces import Candidate, SearchSpace
from search_spaces.space import AXES

QUANTILES = 16
"""points of the predicted return distribution the improvement is averaged over (its quantiles, deterministic)"""
GP_NOISE = "fitted"
"""the noise of a trained candidate's mean return in the model: "fitted" (a white-noise term fitted with the kernel)
or "seeds" (known: one seed's variance pooled over the trained candidates, over its number of seeds); the
selection on the tabular benchmarks (docs/results/strategies/variants.py) compares them, as it does the settings
below"""
Y_SCALE = "data"
"""the unit the GP models mean returns in: "data" (their spread over the trained candidates) or "spread" (at least the
spread of ``_spread``: a few trained candidates that agree do not make the model sure of the others)"""
KERNEL = "wide"
"""the kernel's bounds: "wide" (amplitude 0.01-100 of the modelled unit, length scale 0.3-20 of an axis) or "bounded"
(amplitude at least the unit, length scale at most an axis: a candidate an axis away is not taken as known)"""
NEIGHBOURS = True
"""choose among the candidates one step (one value of one axis) from a trained candidate at parity, while any is left
(False: among every candidate not trained)"""
RETURN_FLOOR = None
"""mean returns more than this many spreads below the FP32 band's lower edge are modelled at that floor (None: as they
are); the spread is the larger of the band's and a seed's median spread over the trained candidates"""


@dataclass(frozen=True)
class Observed:
    """A trained candidate as the search reads it."""

    mean_return: float
    feasible_losses: np.ndarray
    """loss vectors (``objectives.pareto.losses``) of its feasible designs"""
    seed_returns: tuple[float, ...] = ()


def features(candidate: Candidate, space: SearchSpace) -> np.ndarray:
    """The candidate in [0, 1]^4: log2 width, core, input and output bits, each over its range in the space."""
    values = np.array([np.log2(candidate.width), candidate.core_bits, candidate.input_bits, candidate.output_bits], float)
    low = np.array([np.log2(min(space.widths)), min(space.core_bits), min(space.input_bits), min(space.output_bits)], float)
    high = np.array([np.log2(max(space.widths)), max(space.core_bits), max(space.input_bits), max(space.output_bits)], float)
    span = np.where(high > low, high - low, 1.0)
    return (values - low) / span


def predict_returns(
    space: SearchSpace, observed: Mapping[Candidate, Observed], wanted: Sequence[Candidate], band: Fp32Band, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of each wanted candidate's mean return.

    With fewer than two trained candidates there is nothing to fit: the FP32 band's
    mean and three times its spread (a wide prior) stand for every candidate.
    """
    if len(observed) < 2:
        prior_std = 3 * max(band.std, 1e-6)
        return np.full(len(wanted), band.mean), np.full(len(wanted), prior_std)
    inputs = np.array([features(candidate, space) for candidate in observed])
    items = list(observed.values())
    targets = np.array([item.mean_return for item in items])
    if RETURN_FLOOR is not None:
        targets = np.maximum(targets, band.lower - RETURN_FLOOR * _spread(items, band))
    # one length scale of at least 0.3 of an axis's range: five variants were measured on the benchmark's envs
    # (docs/results/search-vs-staged/README.md), and per-axis scales overfit the first sweep's single axis
    amplitude, length = ((1.0, 1e2), (0.3, 1.0)) if KERNEL == "bounded" else ((1e-2, 1e2), (0.3, 2e1))
    shape = ConstantKernel(1.0, amplitude) * Matern(1.0, length, nu=2.5)
    center, scale = targets.mean(), float(np.std(targets))
    if Y_SCALE == "spread":
        scale = max(scale, _spread(items, band))
    scale = scale or 1.0
    noise = _seed_noise(items) if GP_NOISE == "seeds" else None
    if noise is None or np.var(targets) == 0:
        model = GaussianProcessRegressor(shape + WhiteKernel(1e-1, (1e-4, 1e0)), n_restarts_optimizer=2, random_state=seed)
    else:
        model = GaussianProcessRegressor(shape, alpha=noise / scale**2 + 1e-10, n_restarts_optimizer=2, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(inputs, (targets - center) / scale)
    mean, std = model.predict(np.array([features(candidate, space) for candidate in wanted]), return_std=True)
    mean, std = center + scale * mean, scale * std
    return mean, np.maximum(std, 1e-9)


def _spread(observed: list[Observed], band: Fp32Band) -> float:
    """The scale of a return's noise: the larger of the FP32 band's spread and one seed's median spread over the
    trained candidates (a median: a failed seed does not set it)."""
    stds = [np.std(item.seed_returns, ddof=1) for item in observed if len(item.seed_returns) > 1]
    return max(band.std, float(np.median(stds)) if stds else 0.0)


def _seed_noise(observed: list[Observed]) -> np.ndarray | None:
    """Each trained candidate's mean-return variance from its seeds: one seed's variance, pooled over the candidates
    with several seeds, over its number of seeds; None where no candidate has several."""
    variances = [np.var(item.seed_returns, ddof=1) for item in observed if len(item.seed_returns) > 1]
    if not variances:
        return None
    pooled = float(np.mean(variances))
    return np.array([pooled / max(1, len(item.seed_returns)) for item in observed])


class HypervolumeSearch:
    """Chooses candidates by expected hypervolume improvement, each candidate's designs priced before training."""

    def __init__(self, space: SearchSpace, band: Fp32Band, predicted: Mapping[Candidate, np.ndarray], seed: int = 0):
        """``predicted``: per candidate, the hardware objectives (LUTs, latency, energy; or without energy, where it is not
        estimated) of its designs that fit, n x width; ``seed``: the model fit's restarts."""
        self.space = space
        self.band = band
        self.predicted = predicted
        self.seed = seed
        self.objective_count = 1 + next((rows.shape[1] for rows in predicted.values()), 3)

    def choose(
        self, observed: Mapping[Candidate, Observed], pending: Sequence[Candidate], known: set[Candidate]
    ) -> Candidate | None:
        """The next candidate to train among those not ``known`` (told or training); None when none is left.

        Ties (no candidate can improve the front, as far as the model sees) go to the
        one most likely to reach parity, then to the cheapest.
        """
        wanted = [candidate for candidate in self.space.candidates() if candidate not in known]
        if not wanted:
            return None
        if NEIGHBOURS:
            at_parity = [candidate for candidate, item in observed.items() if item.mean_return >= self.band.lower]
            near = [candidate for candidate in wanted if any(self._steps(candidate, other) == 1 for other in at_parity)]
            wanted = near or wanted
        mean, std = predict_returns(self.space, observed, [*wanted, *pending], self.band, self.seed)
        front = [item.feasible_losses for item in observed.values() if len(item.feasible_losses)]
        for candidate, believed in zip(pending, mean[len(wanted):]):  # training now: counted at their predicted mean
            if believed >= self.band.lower and len(self.predicted[candidate]):
                front.append(self._losses(candidate, believed))
        front = np.vstack(front) if front else np.empty((0, self.objective_count))
        normalization = self._normalization(observed, front)
        current = hypervolume(front, normalization) if len(front) else 0.0
        levels = norm.ppf((np.arange(QUANTILES) + 0.5) / QUANTILES)
        scores = []
        for candidate, mu, sigma in zip(wanted, mean, std):
            gains = []
            for level in levels:
                value = mu + sigma * level
                if value < self.band.lower or not len(self.predicted[candidate]):
                    gains.append(0.0)
                    continue
                merged = np.vstack([front, self._losses(candidate, value)])
                gains.append(hypervolume(merged[pareto_mask(merged)], normalization) - current)
            parity_chance = 1.0 - norm.cdf((self.band.lower - mu) / sigma)
            cheapest = min((row[0] for row in self.predicted[candidate]), default=np.inf)
            scores.append((float(np.mean(gains)), parity_chance, -cheapest))
        return wanted[max(range(len(wanted)), key=lambda index: scores[index])]

    def _steps(self, one: Candidate, other: Candidate) -> int:
        """How many values apart two candidates are, summed over the space's axes (each held sorted)."""
        return sum(abs(getattr(self.space, axis).index(a) - getattr(self.space, axis).index(b))
                   for axis, a, b in zip(AXES, astuple(one), astuple(other)))  # fmt: skip

    def _losses(self, candidate: Candidate, mean_return: float) -> np.ndarray:
        hardware = self.predicted[candidate]
        return losses(np.column_stack([np.full(len(hardware), mean_return), hardware]))

    def _normalization(self, observed: Mapping[Candidate, Observed], front: np.ndarray) -> Normalization:
        """Over every predicted design at the band's lower edge and at the best return seen or hoped for."""
        best = max([self.band.mean + 2 * self.band.std, *(item.mean_return for item in observed.values())])
        rows = [self._losses(candidate, value) for candidate in self.predicted if len(self.predicted[candidate])
                for value in (self.band.lower, best)]  # fmt: skip
        return Normalization.fit(np.vstack([*rows, front]) if rows else np.vstack([front, np.zeros((1, self.objective_count))]))
