"""How a candidate's seeds are split into training tasks."""

import dataclasses

import pytest

from dse.study.tasks import task_groups
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


def test_a_run_folder_travels_packed_and_a_damaged_package_fails_its_task(tmp_path):
    from dse.study.tasks import TaskFailed, TrainedRun, install_runs, pack_run, unpack_run

    source = tmp_path / "node" / "run"
    source.mkdir(parents=True)
    (source / "checkpoint.pt").write_bytes(bytes(range(256)) * 64)
    (source / "eval.json").write_text('{"returns": [1.0]}')
    target = tmp_path / "driver" / "cache" / "run"
    target.mkdir(parents=True)
    (target / "stale.txt").write_text("a cut-off earlier copy")
    unpack_run(pack_run(source), target)
    assert sorted(path.name for path in target.iterdir()) == ["checkpoint.pt", "eval.json"]
    assert (target / "checkpoint.pt").read_bytes() == (source / "checkpoint.pt").read_bytes()
    assert [path.name for path in target.parent.iterdir()] == ["run"], "no unpacking folder is left behind"

    truncated = TrainedRun(SPECS[0].key(), pack_run(source)[:200], "node/1")
    with pytest.raises(TaskFailed, match="the policy of .* seed 0 arrived damaged"):
        install_runs(SPECS[:1], [truncated], tmp_path / "cache")
    wrong = TrainedRun(SPECS[1].key(), pack_run(source), "node/1")
    with pytest.raises(TaskFailed, match="sent back .*, not the .* seed 0 it was given"):
        install_runs(SPECS[:1], [wrong], tmp_path / "cache")
