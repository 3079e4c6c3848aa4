"""Stops and faults a long study meets. SIGTERM (schedulers, kill, preemption) stops dse run and dse train as Ctrl-C
does: one line naming the signal, exit 143, no native stack dump, the lease released. A full disk is one line, and
leaves the saves before it whole. Either way the same command then resumes to what a clean run gives, bit for bit."""

import errno
import json
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import torch

from dse.storage.run_folder import open_run_study
from dse.storage.studies import open_study
from dse.study.deploy import integer_actor
from dse.study.tasks import pack_run, unpack_run
from tests.dse.tiny import TINY_STUDY
from training import TrainSpec, train_seeds

DSE = [sys.executable, "-m", "dse.cli"]
STOPPED = "dse: stopped by SIGTERM; what finished and what was saved are kept: the same command continues"


def wait_for(condition, process: subprocess.Popen, what: str, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert process.poll() is None, f"it ended before {what}"
        assert time.monotonic() < deadline, f"no {what} in {seconds} s"
        time.sleep(0.2)


def terminate(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, err[-2000:]
    assert err.strip().splitlines()[-1] == STOPPED and "SIGTERM received" not in err and "Traceback" not in err, err
    return err


def same_training(run_dir: Path, other_dir: Path) -> bool:
    weights = [torch.load(path / "checkpoint.pt", weights_only=True)["policy"] for path in (run_dir, other_dir)]
    returns = [json.loads((path / "eval.json").read_text())["returns"] for path in (run_dir, other_dir)]
    return returns[0] == returns[1] and all(torch.equal(weights[0][name], weights[1][name]) for name in weights[0])


def test_sigterm_stops_a_study_that_the_same_command_resumes_bit_for_bit(tmp_path):
    run = tmp_path / "study"
    command = [*DSE, "run", *TINY_STUDY, "--budget", "2", "--early-stop", "off", "--checkpoint-steps", "200", "--out",
               str(run)]
    driver = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True)

    def saved_mid_training() -> bool:  # a candidate's training, after the FP32 baseline
        return (run / "baseline.json").exists() and any((run / "cache" / "resume").glob("*/state-*.pt"))

    wait_for(saved_mid_training, driver, "a save of a candidate's running training")
    terminate(driver)
    resumed = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]  # the lease was released: no other driver in the way
    trials = [t for t in open_run_study(run).get_trials() if t.state == optuna.trial.TrialState.COMPLETE]
    assert len([t for t in trials if "repeat_of" not in t.user_attrs]) == 2
    continued = [[Path(d) for d in t.user_attrs["policy_dirs"]] for t in trials
                 if json.loads((Path(t.user_attrs["policy_dirs"][0]) / "complete.json").read_text()).get("resumed_at")]
    assert continued, "a candidate's training stopped by SIGTERM went on from its save"
    # the candidate's seeds trained together again, straight through, as the study's task trains them
    specs = [TrainSpec.from_dict(json.loads((path / "config.json").read_text())["spec"]) for path in continued[0]]
    clean = train_seeds(specs[0], [spec.seed for spec in specs], [tmp_path / f"clean-{spec.seed}" for spec in specs],
                        deploy=integer_actor)
    for policy_dir, straight in zip(continued[0], clean):
        assert same_training(policy_dir, straight.run_dir), policy_dir.name


TRAIN = ["train", "--env", "Pendulum-v1", "--width", "8", "--core-bits", "2", "--steps", "1200", "--learning-starts",
         "100", "--critic-width", "32", "--batch-size", "32", "--eval-every", "400", "--eval-episodes", "2",
         "--final-eval-episodes", "2", "--no-progress"]


@pytest.fixture(scope="module")
def clean_training(tmp_path_factory) -> Path:
    """``TRAIN`` run straight through, once for the module's stopped trainings to be compared with."""
    out = tmp_path_factory.mktemp("clean") / "run"
    clean = subprocess.run([*DSE, *TRAIN, "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert clean.returncode == 0, clean.stderr[-2000:]
    return out


def resumes_as_a_clean_run(command: list[str], out: Path, clean: Path) -> None:
    resumed = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0 and "resuming" in resumed.stdout, resumed.stderr[-2000:]
    assert json.loads((out / "complete.json").read_text())["resumed_at"]
    assert same_training(out, clean)


def test_sigterm_stops_dse_train_which_the_same_command_resumes_bit_for_bit(tmp_path, clean_training):
    out = tmp_path / "stopped"
    command = [*DSE, *TRAIN, "--checkpoint-minutes", "0.005", "--out", str(out)]
    training = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    resume = out.with_name(f"{out.name}.resume")
    wait_for(lambda: any(resume.glob("state-*.pt")), training, "a save")
    terminate(training)
    assert not (out / "complete.json").exists()
    resumes_as_a_clean_run(command, out, clean_training)


def test_a_full_disk_is_one_line_keeps_the_saves_before_and_the_same_command_goes_on(small_disk, clean_training):
    out = small_disk.mount / "run"
    command = [*DSE, *TRAIN, "--checkpoint-minutes", "0.002", "--out", str(out)]
    training = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    resume = out.with_name(f"{out.name}.resume")
    wait_for(lambda: any(resume.glob("state-*.pt")), training, "a save")
    small_disk.fill()
    _, err = training.communicate(timeout=300)
    assert training.returncode == 1, err[-2000:]
    (line,) = err.strip().splitlines()
    assert line.startswith("dse: error: ") and "space left on" in line and "run the same command again" in line
    assert not list(resume.glob(".*.incoming")), "a save that could not be written leaves nothing behind"
    small_disk.free()
    resumes_as_a_clean_run(command, out, clean_training)


def test_a_full_disk_leaves_the_journal_whole_and_the_study_goes_on(small_disk):
    journal = small_disk.mount / "study.log"
    study = open_study(str(journal), "study")
    for value in range(3):
        study.tell(study.ask(), [float(value)] * len(study.directions))
    before = journal.read_bytes()
    small_disk.fill()
    with pytest.raises(OSError) as raised:
        # larger than a page: Optuna's append writes what fits the file's last page before the disk refuses the rest
        study.set_user_attr("note", "x" * 10_000)
    error = raised.value
    assert error.errno == errno.ENOSPC and error.filename == str(journal)
    assert re.fullmatch(r"no space left on the device \(0\.0096 MB needed\)", error.strerror), error.strerror
    assert journal.read_bytes().endswith(b"\n") and journal.read_bytes().startswith(before), "whole records only"
    small_disk.free()
    again = open_study(str(journal), "study")
    again.tell(again.ask(), [3.0] * len(again.directions))
    assert [t.values[0] for t in again.get_trials()] == [0.0, 1.0, 2.0, 3.0] and "note" not in again.user_attrs


def test_a_full_disk_while_a_policy_enters_the_cache_keeps_the_cache_as_it_was(small_disk, tmp_path):
    trained = tmp_path / "trained"
    trained.mkdir()
    (trained / "policy.pt").write_bytes(random.Random(0).randbytes(2**20))  # incompressible: 1 MB on disk too
    cached = small_disk.mount / "cache" / "run"
    cached.mkdir(parents=True)
    (cached / "policy.pt").write_bytes(b"the run that was there")
    small_disk.fill()
    with pytest.raises(OSError) as raised:
        unpack_run(pack_run(trained), cached)
    assert raised.value.errno == errno.ENOSPC and raised.value.filename == str(cached)
    assert raised.value.strerror == "no space left on the device (1 MB needed)"
    assert [path.name for path in cached.parent.iterdir()] == ["run"] and (cached / "policy.pt").read_bytes() == b"the run that was there"
    small_disk.free()
    unpack_run(pack_run(trained), cached)
    assert (cached / "policy.pt").read_bytes() == (trained / "policy.pt").read_bytes()
