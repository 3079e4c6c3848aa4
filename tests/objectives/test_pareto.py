"""The running Pareto front the driver keeps, and hypervolumes against an exact independent computation."""

import itertools

import numpy as np
import pytest

from objectives.pareto import Normalization, RunningFront, hypervolume, losses, pareto_mask


def test_the_running_front_equals_the_front_of_all_points_at_every_step():
    rng = np.random.default_rng(0)
    # rounded so that ties and equal vectors occur
    points = np.round(rng.normal(size=(200, 4)), 1)
    front = RunningFront()
    for count, point in enumerate(points, start=1):
        front.add(point)
        assert len(front) == int(pareto_mask(losses(points[:count])).sum())


def inclusion_exclusion(points: np.ndarray, reference: np.ndarray) -> float:
    """The volume dominated by ``points`` (minimized) below ``reference``: the sum over every subset of +- its
    common box. Exact, and independent of any hypervolume algorithm; exponential, so for a dozen points at most."""
    total = 0.0
    for size in range(1, len(points) + 1):
        for subset in itertools.combinations(points, size):
            corner = np.max(subset, axis=0)
            total += (-1) ** (size + 1) * float(np.prod(np.clip(reference - corner, 0, None)))
    return total


# The values optuna._hypervolume gave for these sets before the project moved to moocore.
RANDOM_4D = np.random.default_rng(7).random((12, 4)) * [100, 5000, 1e-4, 1e-6] - [50, 0, 0, 0]
TIES_2D = np.array([[1.0, 5.0], [2.0, 3.0], [2.0, 3.0], [4.0, 1.0], [3.0, 4.0]])


@pytest.mark.parametrize(("points", "before"), [(RANDOM_4D, 0.5159096738794944), (TIES_2D, 0.5433333333333336)])
def test_hypervolume_keeps_its_values_and_is_exact(points, before):
    normalization = Normalization.fit(points)
    value = hypervolume(points, normalization)
    assert value == pytest.approx(before, rel=1e-12)
    normalized = normalization(points)
    assert value == pytest.approx(inclusion_exclusion(normalized, normalization.reference), rel=1e-12)
    assert hypervolume(points[:0], normalization) == 0.0
