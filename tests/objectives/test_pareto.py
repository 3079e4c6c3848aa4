"""The running Pareto front the driver keeps against the front of all points at once."""

import numpy as np

from objectives.pareto import RunningFront, losses, pareto_mask


def test_the_running_front_equals_the_front_of_all_points_at_every_step():
    rng = np.random.default_rng(0)
    # rounded so that ties and equal vectors occur
    points = np.round(rng.normal(size=(200, 4)), 1)
    front = RunningFront()
    for count, point in enumerate(points, start=1):
        front.add(point)
        assert len(front) == int(pareto_mask(losses(points[:count])).sum())
