"""How a candidate's seeds are split into training tasks."""

import dataclasses

import pytest

from dse.executor import task_groups
from training import TrainSpec

SPECS = [dataclasses.replace(TrainSpec("Pendulum-v1"), seed=seed) for seed in range(5)]


@pytest.mark.parametrize(
    "parts,task_per_seed,seeds",
    [
        (1, False, [[0, 1, 2, 3, 4]]),
        (2, False, [[0, 2, 4], [1, 3]]),
        (9, False, [[0], [1], [2], [3], [4]]),
        (1, True, [[0], [1], [2], [3], [4]]),
    ],
)
def test_every_seed_lands_in_exactly_one_task(parts, task_per_seed, seeds):
    groups = task_groups(SPECS, parts, task_per_seed)
    assert [[spec.seed for spec in group] for group in groups] == seeds


def test_nothing_to_train_is_no_task():
    assert task_groups([], 2, False) == [] and task_groups([], 1, True) == []
