"""A tabular benchmark: a tiny table trained for real, a live study on its trainings, and the same study replayed."""

import optuna
import pytest

from dse.cli import main
from dse.reports.figures import hypervolume_curve, normalization_for
from dse.reports.run_data import load_run
from dse.storage.run_folder import open_run_study
from dse.tabular.replay import replicate_seeds
from dse.tabular.table import Table
from tests.dse.tiny import TINY_STUDY

CURVED = [*TINY_STUDY, "--eval-every", "300", "--eval-episodes", "2"]
KEPT = ("seed_returns", "parity_margin", "parity_feasible", "deployed_seed", "designs", "fits_any", "trainings", "env_steps")
STAGED = ["--strategy", "staged", "--budget", "8"]


@pytest.fixture(scope="module")
def table_run(tmp_path_factory):
    """Every candidate of the tiny space x 2 seeds, trained for real (curve points at 300 and 600 env steps)."""
    run = tmp_path_factory.mktemp("tabular") / "table"
    assert main(["tabulate", *CURVED, "--out", str(run)]) == 0
    return run


def _trials(run) -> list[tuple]:
    return [
        (trial.number, trial.state, trial.params, trial.values, trial.system_attrs.get("constraints"),
         {name: trial.user_attrs.get(name) for name in KEPT})
        for trial in open_run_study(run).get_trials(deepcopy=False)
    ]


def test_a_study_replayed_against_a_table_gives_the_live_studys_trials(table_run, tmp_path, capsys):
    table = Table.load(table_run / "table.json.gz")
    assert len(table.candidates) == 8 and all(len(runs) == 2 for runs in table.candidates.values())
    assert len(table.baseline) == 2 and all(run.curve for run in table.baseline)
    assert all(run.designs and run.chosen for runs in table.candidates.values() for run in runs)

    live, replayed = tmp_path / "live", tmp_path / "replay"
    assert main(["run", *CURVED, *STAGED, "--cache", str(table_run / "cache"), "--out", str(live)]) == 0
    assert load_run(live).new_trainings == 0  # the live study's trainings are the table's
    assert main(["replay", str(table_run / "table.json.gz"), *STAGED, "--seeds", "2", "--out", str(replayed)]) == 0

    live_trials, replayed_trials = _trials(live), _trials(replayed)
    assert len(live_trials) >= 4 and all(trial[1] == optuna.trial.TrialState.COMPLETE for trial in live_trials)
    assert replayed_trials == live_trials
    runs = [load_run(live), load_run(replayed)]
    normalization = normalization_for(runs)
    # the same front; the live study (every training cached) tells trials as it asks them, the replay in the order
    # their recorded wall times finish them on 2 workers, so the curve's steps may come in another order
    assert hypervolume_curve(runs[1], normalization)[-1] == hypervolume_curve(runs[0], normalization)[-1]
    assert runs[1].staged_pick == runs[0].staged_pick
    assert main(["replay", str(table_run / "table.json.gz"), *STAGED, "--out", str(replayed)]) == 2
    assert "already holds a study" in capsys.readouterr().err


@pytest.mark.parametrize("options", [
    ["--seeds", "1", "--early-stop", "conservative"],
    ["--seeds", "1", "--fidelity-rungs", "2", "--fidelity-factor", "2", "--early-stop", "off"],
    ["--seeds", "2", "--seed-racing", "1", "--early-stop", "off"],
])
def test_a_search_with_early_stopping_rungs_or_racing_replays_to_its_budget(table_run, tmp_path, options):
    replayed = tmp_path / "replay"
    command = ["replay", str(table_run / "table.json.gz"), "--budget", "5", "--replicate", "1", *options]
    assert main([*command, "--out", str(replayed)]) == 0
    run = load_run(replayed)
    assert run.settings.sampler_seed == 1  # the replicate seeds the sampler too
    assert len(run.trials[run.trials["outcome"].isin(["trained"]) | run.trials["state"].eq("PRUNED")]) == 5
    assert (replayed / "reports" / "index.html").exists()


@pytest.mark.parametrize("options, message", [
    (["--seeds", "3"], "seeds 3 is invalid for a table of 2 seeds"),
    (["--replicate", "-1"], "replicate -1 is invalid"),
])
def test_a_replay_the_table_cannot_serve_is_a_one_line_error(table_run, tmp_path, capsys, options, message):
    assert main(["replay", str(table_run / "table.json.gz"), *options, "--out", str(tmp_path / "r")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]


def test_a_table_that_cannot_be_read_is_a_one_line_error(tmp_path, capsys):
    assert main(["replay", str(tmp_path / "missing.json.gz"), "--out", str(tmp_path / "r")]) == 2
    assert "cannot be read" in capsys.readouterr().err
    assert main(["tabulate", "--out", str(tmp_path / "t")]) == 2
    assert "needs --env" in capsys.readouterr().err


@pytest.mark.parametrize("replicate", [1, 2, 7])
def test_a_replicate_draws_distinct_table_seeds_the_same_way_every_time(replicate):
    seeds, baseline = replicate_seeds(10, 3, replicate)
    assert (seeds, baseline) == replicate_seeds(10, 3, replicate)
    assert len(set(seeds)) == 3 and len(set(baseline)) == 3 and all(0 <= seed < 10 for seed in seeds + baseline)
    assert replicate_seeds(10, 3, 0) == ((0, 1, 2), (0, 1, 2))
    assert len({replicate_seeds(10, 3, r)[0] for r in range(1, 30)}) > 1  # replicates differ


def test_promotion_within_a_width_promotes_candidates_of_every_width(table_run, tmp_path):
    replayed = tmp_path / "replay"
    rungs = ["--fidelity-rungs", "2", "--fidelity-factor", "2", "--early-stop", "off", "--fidelity-promotion", "within-width"]
    command = ["replay", str(table_run / "table.json.gz"), "--budget", "8", "--seeds", "1", *rungs]
    assert main([*command, "--out", str(replayed)]) == 0
    run = load_run(replayed)
    assert run.settings.fidelity_promotion == "within-width"
    assert set(run.scored["width"]) == {16, 32}  # each width's best half went on to the last rung
    assert len(run.trials[run.trials["state"] == "PRUNED"]) >= 2
