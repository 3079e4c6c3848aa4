"""Faults injected into real studies: each fails only what it hits, loses nothing finished, and the study reaches its budget.

Killed workers, nodes and drivers are in test_cluster.py and test_resume.py.
"""

import dataclasses
import json
import os
import subprocess
from pathlib import Path

import optuna
import pytest

from dse.cli import main
from dse.storage.run_folder import open_run_study
from dse.study.executor import RayExecutor
from synthesis import FinnFailure
from tests.dse.tiny import TINY_STUDY
from training import verify_run

COMPLETE, FAIL = optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL
STAGED = [*TINY_STUDY, "--strategy", "staged", "--space-widths", "16", "--space-core-bits", "2"]


def diverge_input_bits_6(monkeypatch):
    """The training of the candidate with 6 input bits gets learning rates of 1e30: its weights overflow to NaN."""
    submit = RayExecutor.submit

    def diverging(self, specs, early_stop=None, until=None):
        if specs[0].policy.input_bits == 6:
            hyper = dataclasses.replace(specs[0].hyper, q_lr=1e30, policy_lr=1e30)
            specs = [dataclasses.replace(spec, hyper=hyper) for spec in specs]
        return submit(self, specs, early_stop, until)

    monkeypatch.setattr(RayExecutor, "submit", diverging)
    return "diverged by env step 600: the policy weights of seed"


def finn_fails_on_input_bits_6(monkeypatch):
    """FINN raises on the design of the candidate with 6 input bits."""
    import dse.study.scoring

    lower = dse.study.scoring.lower_qonnx

    def failing(path):
        config = json.loads((Path(path).parent / "config.json").read_text())
        if config["spec"]["policy"]["input_bits"] == 6:
            raise FinnFailure("FINN failed: InferShapes could not infer a shape (injected)")
        return lower(path)

    monkeypatch.setattr(dse.study.scoring, "lower_qonnx", failing)
    return "FINN failed: InferShapes could not infer a shape (injected)"


@pytest.mark.parametrize("inject", [diverge_input_bits_6, finn_fails_on_input_bits_6])
def test_a_fault_fails_only_its_trial_and_the_staged_rule_goes_on(tmp_path, monkeypatch, capsys, inject):
    reason = inject(monkeypatch)
    run = tmp_path / "study"
    assert main(["run", *STAGED, "--budget", "5", "--out", str(run)]) == 0
    trials = open_run_study(run).trials
    failed = [trial for trial in trials if trial.state == FAIL]
    assert len(failed) == 1 and failed[0].params["input_bits"] == 6
    assert reason in failed[0].user_attrs["fail_reason"]
    assert all(trial.state == COMPLETE for trial in trials if trial.params["input_bits"] == 8)
    assert f"FAILED: {failed[0].user_attrs['fail_reason']}" in capsys.readouterr().out
    if inject is diverge_input_bits_6:  # no return to judge: the rule cannot pick it (the FINN case: the next test)
        assert "parity_feasible" not in failed[0].user_attrs
        assert open_run_study(run).user_attrs["staged_pick"]["input_bits"] == 8


def test_a_design_that_cannot_be_built_keeps_its_parity_verdict_for_the_staged_rule(tmp_path, monkeypatch):
    """FINN fails after the trainings: the trial fails, but its return was measured, and the rule must see it.

    The band is put far below every return, so every candidate is at parity: the rule's smallest input bits, 6,
    is the pick although its design failed (before, the failed trial counted as not at parity and 8 was picked).
    """
    from objectives import Fp32Band

    finn_fails_on_input_bits_6(monkeypatch)
    monkeypatch.setattr(Fp32Band, "from_seed_returns", classmethod(lambda cls, returns: cls(-1e9, 0.0, len(returns))))
    run = tmp_path / "study"
    assert main(["run", *STAGED, "--budget", "5", "--out", str(run)]) == 0
    study = open_run_study(run)
    [failed] = [trial for trial in study.trials if trial.state == FAIL]
    assert failed.user_attrs["parity_feasible"] is True and len(failed.user_attrs["seed_returns"]) == 2
    assert study.user_attrs["staged_pick"]["input_bits"] == 6


def test_a_damaged_cached_policy_is_found_by_its_hash_and_trained_again(tmp_path, capsys):
    run = tmp_path / "study"
    args = ["run", *TINY_STUDY, "--space-widths", "16", "--space-core-bits", "2", "--out", str(run)]
    assert main([*args, "--budget", "1"]) == 0
    baseline = json.loads((run / "baseline.json").read_text())["policy_dirs"]
    truncated, deleted = Path(baseline[0]) / "checkpoint.pt", Path(baseline[1]) / "policy.onnx"
    truncated.write_bytes(truncated.read_bytes()[:100])
    deleted.unlink()
    capsys.readouterr()

    assert main([*args, "--budget", "2"]) == 0
    out = capsys.readouterr().out
    assert f"cached policy {truncated.parent.name} is damaged (checkpoint.pt does not match its hash" in out
    assert f"cached policy {deleted.parent.name} is damaged (policy.onnx is missing)" in out
    assert "training the FP32 baseline: 2 of 2 seeds" in out
    assert verify_run(truncated.parent) is None and verify_run(deleted.parent) is None
    assert [trial.state for trial in open_run_study(run).trials] == [COMPLETE, COMPLETE]


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder on a read-only filesystem (root ignores file modes, so it gets a read-only mount)."""
    folder = tmp_path / "disk"
    folder.mkdir()
    if os.geteuid() != 0:
        (folder / "study").mkdir()
        folder.chmod(0o555)
        (folder / "study").chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a read-only filesystem here: {mounted.stderr.strip()}")
    (folder / "study").mkdir()
    subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


@pytest.mark.parametrize(("target", "message"), [("out", "run folder"), ("cache", "policy cache")])
def test_a_read_only_folder_is_refused_before_any_work(tmp_path, read_only_folder, capsys, target, message):
    out = read_only_folder / "study" if target == "out" else tmp_path / "study"
    cache = read_only_folder / "study" / "cache" if target == "cache" else tmp_path / "cache"
    assert main(["run", *TINY_STUDY, "--budget", "1", "--out", str(out), "--cache", str(cache)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"dse: error: {message} ") and ("Read-only file system" in err or "Permission denied" in err)
    assert err.count("\n") == 1
    assert not (tmp_path / "study" / "study.db").exists(), "nothing was started"
