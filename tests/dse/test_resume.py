"""A second driver on a running study is refused; the first, killed (SIGKILL, with its whole process group: Ray
included) mid-study, resumes at once without loss or repeats."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna

from dse.cli import main
from dse.storage.run_folder import open_run_study
from dse.storage.settings import StudyInputError
from tests.dse.tiny import TINY_STUDY

COMPLETE, FAIL, RUNNING = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL, optuna.trial.TrialState.RUNNING)


def trials_of(run: Path) -> list[optuna.trial.FrozenTrial]:
    try:
        return open_run_study(run).get_trials()
    except StudyInputError:  # not created yet
        return []


def finished_runs(cache: Path) -> dict[str, int]:
    return {str(p.parent): p.stat().st_mtime_ns for p in cache.glob("train/*/complete.json")}


def test_killed_driver_loses_and_repeats_nothing(tmp_path, capsys):
    run = tmp_path / "study"
    command = [sys.executable, "-m", "dse.cli", "run", *TINY_STUDY, "--budget", "5", "--out", str(run)]
    driver = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        states = [t.state for t in trials_of(run)]
        if states.count(COMPLETE) >= 2 and RUNNING in states:
            break
        assert driver.poll() is None, "the study ended before it could be killed"
        time.sleep(0.2)
    assert main(command[3:]) == 2, "a second driver on the same study is refused"
    assert f"is being driven by another dse run (process {driver.pid} on" in capsys.readouterr().err
    assert driver.poll() is None, "the first driver goes on"

    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()

    before = {t.number: (t.params, t.values, t.user_attrs) for t in trials_of(run) if t.state == COMPLETE}
    left_running = [t for t in trials_of(run) if t.state == RUNNING]
    cached = finished_runs(run / "cache")
    assert len(before) >= 2 and left_running

    # room to redo every interrupted candidate however far the first driver got (4 finished and 2 running, at 5, would
    # leave one interrupted candidate unasked)
    budget = max(5, len(before) + len(left_running))
    resumed = subprocess.run([*command, "--budget", str(budget)], capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert "marked failed (interrupted) and asked again" in resumed.stdout

    trials = trials_of(run)
    complete = [t for t in trials if t.state == COMPLETE]
    assert len([t for t in complete if "repeat_of" not in t.user_attrs]) == budget
    assert {t.number: (t.params, t.values, t.user_attrs) for t in complete if t.number in before} == before
    interrupted = [t for t in trials if t.state == FAIL]
    assert {t.number for t in interrupted} == {t.number for t in left_running}
    assert all(t.user_attrs["interrupted"] for t in interrupted)
    # each interrupted candidate was asked again and finished
    redone = [t.params for t in complete if t.number not in before]
    assert all(t.params in redone for t in interrupted)
    # finished trainings were not trained again
    assert {path: mtime for path, mtime in finished_runs(run / "cache").items() if path in cached} == cached
