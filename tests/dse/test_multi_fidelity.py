"""Successive halving across env steps (--fidelity-rungs) on real parts: a local Ray, real trainings paused at a rung
and resumed, the front made of last-rung candidates only, and every env step counted once."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from dse.cli import main
from dse.reports.compare import comparison
from dse.reports.run_data import load_run
from dse.storage.run_folder import open_run_study
from dse.storage.settings import StudyInputError
from tests.dse.tiny import TINY_STUDY

COMPLETE, PRUNED, RUNNING = optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.RUNNING
# rungs at 300 and 900 env steps (factor 3), above learning-starts 200
RUNGS = [*TINY_STUDY, "--steps", "900", "--fidelity-rungs", "2"]


pytestmark = pytest.mark.usefixtures("ray_session")


def test_candidates_train_to_the_first_rung_and_the_best_third_resume_to_the_last(tmp_path, capsys):
    run = tmp_path / "rungs"
    assert main(["run", *RUNGS, "--budget", "6", "--out", str(run)]) == 0
    out = capsys.readouterr().out
    trials = open_run_study(run).get_trials()
    assert len(trials) == 6 and {trial.state for trial in trials} == {COMPLETE, PRUNED}
    complete = [trial for trial in trials if trial.state == COMPLETE]
    pruned = [trial for trial in trials if trial.state == PRUNED]
    assert len(complete) >= 6 // 3, "at least the best third of those at rung 1 went on"
    for trial in complete:
        assert trial.user_attrs["rung_reached"] == 2 and trial.user_attrs["rung_env_steps"] == [600, 1800]
        assert trial.user_attrs["env_steps"] == 1800, "the rung's steps are part of the whole training, counted once"
        for policy_dir in trial.user_attrs["policy_dirs"]:
            complete_json = json.loads((Path(policy_dir) / "complete.json").read_text())
            assert complete_json["resumed_at"] == [300] and complete_json["env_steps"] == 900, "resumed, not restarted"
    for trial in pruned:
        assert trial.user_attrs["rung_reached"] == 1 and trial.user_attrs["env_steps"] == 600 and trial.values is None
        assert len(trial.user_attrs["rung_returns"]) == 1
    # promotion: each candidate promoted ranked in the best third at rung 1 (return with hardware) when it was
    # promoted, so the best return at rung 1 of the pruned is no proof; but a promoted one always reached rung 1 first
    assert out.count("promoted to rung 2") == len(complete)
    assert out.index("rung 1 of 2") < out.index("promoted to rung 2")
    # only last-rung candidates are on the front; every env step of every rung is charged once
    data = load_run(run)
    assert set(data.designs["number"]) <= {trial.number for trial in complete}
    assert data.env_steps == sum(trial.user_attrs["env_steps"] for trial in trials) == 600 * len(trials) + 1200 * len(complete)
    assert max(data.scored["spent_env_steps"]) <= data.env_steps
    summary = (run / "reports" / "summary.md").read_text()
    assert f"rung 1 (300 env steps): 6 reached, 3,600 env steps spent; rung 2 (900 env steps): {len(complete)} reached" in summary
    assert comparison([data]).loc[0, "env_steps"] == data.env_steps
    assert not any((run / "cache" / "resume").iterdir()), "no save is kept: finished ones installed, pruned ones dropped"


def test_a_dry_run_shows_the_rungs_env_steps_beside_training_every_candidate_to_the_end(tmp_path, capsys):
    assert main(["run", *RUNGS, "--budget", "6", "--out", str(tmp_path / "plan"), "--dry-run"]) == 0
    text = capsys.readouterr().out
    # 6 x 2 x (300 + 600 / 3) + the baseline's 2 x 900, against (12 + 2) x 900
    assert ("7,800 env steps under successive halving (rungs at 300, 900 env steps; with every candidate trained to "
            "the end, the study would take 12,600: 62% of it)") in text


@pytest.mark.parametrize("args,message", [
    (["--strategy", "staged"], "--fidelity-rungs 2 cannot be combined with --strategy staged: it applies to --strategy search"),
    (["--early-stop", "conservative"], "early-stop conservative cannot be combined with fidelity-rungs 2"),
    (["--fidelity-rungs", "3"], "fidelity rung 1 of 3 would be 100 env steps, not above learning-starts 200"),
    (["--fidelity-factor", "1"], "fidelity-factor 1 is invalid: it must be at least 2"),
])
def test_rungs_that_cannot_work_are_refused_in_one_line(args, message, tmp_path, capsys):
    assert main(["run", *RUNGS, *args, "--out", str(tmp_path / "x"), "--dry-run"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]


def test_a_killed_driver_takes_its_paused_candidates_back(tmp_path):
    run = tmp_path / "study"
    command = [sys.executable, "-m", "dse.cli", "run", *RUNGS, "--budget", "5", "--out", str(run)]
    driver = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def paused() -> list:
        try:
            trials = open_run_study(run).get_trials()
        except StudyInputError:
            return []
        return [trial for trial in trials if trial.state == RUNNING and "rung_returns" in trial.user_attrs]

    deadline = time.monotonic() + 300
    while not paused():
        assert driver.poll() is None, "the study ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.1)
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    left = {trial.number: trial.user_attrs["rung_returns"] for trial in paused()}

    assert main(command[3:]) == 0
    trials = {trial.number: trial for trial in open_run_study(run).get_trials()}
    assert all(trials[number].state in (COMPLETE, PRUNED) for number in left), "taken back, not interrupted"
    assert all(trials[number].user_attrs["rung_returns"][:len(returns)] == returns for number, returns in left.items())
    assert not any(trial.user_attrs.get("interrupted") for number, trial in trials.items() if number in left)
    assert len([trial for trial in trials.values() if trial.state in (COMPLETE, PRUNED)]) == 5
