"""The scale-out path on real parts: a Ray cluster of two node processes (`ray start`), a PostgreSQL server, a driver
that shares no filesystem with the nodes' training scratch, and the faults a cluster has: a worker process and a
whole node killed mid-training.

The PostgreSQL server comes from Debian's package (`.ci/run` installs it; tests/dse/postgres.py).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import optuna
import psutil
import pytest

from dse.storage.studies import open_study
from tests.dse.postgres import free_port, postgres_server
from tests.dse.tiny import TINY_STUDY
from training import verify_run

BIN = Path(sys.executable).parent
COMPLETE = optuna.trial.TrialState.COMPLETE


@pytest.fixture(scope="module")
def postgres():
    """A PostgreSQL server on loopback for this module; its URL."""
    with postgres_server() as url:
        yield url


@dataclass
class Cluster:
    address: str
    env: dict
    head: subprocess.Popen
    node: subprocess.Popen
    scratch: Path
    """the nodes' TMPDIR: where training tasks keep their run folders until they send them"""


def start_node(command: list[str], env: dict) -> subprocess.Popen:
    # --block keeps the node's processes in one process group, so the test can stop (or kill) exactly that node
    return subprocess.Popen([str(BIN / "ray"), "start", *command, "--num-cpus", "1", "--object-store-memory", "100000000",
                             "--disable-usage-stats", "--block"], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def alive_nodes(cluster_env: dict, address: str) -> int:
    probe = ("import ray; ray.init(address=%r, logging_level='ERROR', log_to_driver=False); "
             "print(sum(node['Alive'] for node in ray.nodes()))" % address)
    result = subprocess.run([sys.executable, "-c", probe], env=cluster_env, capture_output=True, text=True, timeout=120)
    return int(result.stdout.strip().splitlines()[-1]) if result.returncode == 0 else 0


@pytest.fixture(scope="module")
def ray_cluster():
    """A head node (127.0.0.1) and a second node process (127.0.0.2), one CPU each, with a shared auth token."""
    scratch = Path(tempfile.mkdtemp(prefix="dse-nodes-"))
    port = free_port()
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16),
           "RAY_USAGE_STATS_ENABLED": "0", "TMPDIR": str(scratch)}
    address = f"127.0.0.1:{port}"
    head = start_node(["--head", "--port", str(port), "--node-ip-address", "127.0.0.1", "--include-dashboard", "false"],
                      env)
    time.sleep(5)
    node = start_node(["--address", address, "--node-ip-address", "127.0.0.2"], env)
    deadline = time.monotonic() + 120
    while alive_nodes(env, address) < 2:
        assert time.monotonic() < deadline, "the two Ray nodes did not come up"
        time.sleep(2)
    try:
        yield Cluster(address, env, head, node, scratch)
    finally:
        for process in (node, head):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)  # the nodes' workers exit when their raylet is gone
                process.wait()
        shutil.rmtree(scratch, ignore_errors=True)


def training_workers(*nodes: subprocess.Popen) -> list[psutil.Process]:
    """Processes running a training task on ``nodes`` (their raylets are in the nodes' process groups).

    Named nodes only: another Ray on the machine (a study someone runs beside the tests) has training tasks too.
    """
    groups = {os.getpgid(node.pid) for node in nodes}
    found = []
    for process in psutil.process_iter(["cmdline", "ppid"]):
        try:
            if process.info["cmdline"] and process.info["cmdline"][0] == "ray::train_task":
                if os.getpgid(process.info["ppid"]) in groups:
                    found.append(process)
        except (psutil.Error, ProcessLookupError):
            continue
    return found


def saved_at_the_driver(scratch: Path, store: Path) -> int:
    """How many trainings running on the nodes have a save whose latest state the driver's store holds too."""
    stored = {}
    for path in store.glob("*/state-*.pt"):
        try:
            stored[path.name, path.read_bytes()] = True
        except OSError:  # dropped meanwhile
            continue
    count = 0
    for folder in scratch.glob("dse-train-*/resume"):
        try:
            count += any((path.name, path.read_bytes()) in stored for path in folder.glob("state-*.pt"))
        except OSError:
            continue
    return count


def test_a_study_on_a_ray_cluster_with_postgresql_survives_a_killed_worker_and_a_killed_node(tmp_path, postgres,
                                                                                            ray_cluster):
    run = tmp_path / "study"
    command = [sys.executable, "-m", "dse.cli", "run", *TINY_STUDY, "--budget", "4", "--ray-address", "auto",
               "--storage", postgres, "--study-name", "cluster", "--out", str(run), "--checkpoint-steps", "50"]
    # "auto" finds the cluster as on a head node; RAY_ADDRESS names it, as other `ray start` clusters may run here
    env = {**ray_cluster.env, "RAY_ADDRESS": ray_cluster.address}
    driver = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def wait_for(what: str, found):
        deadline = time.monotonic() + 300
        while not (result := found()):
            assert driver.poll() is None, f"the study ended before {what}: {driver.stdout.read()}"
            assert time.monotonic() < deadline, f"no {what} within 300 s"
            time.sleep(0.1)
        return result

    # a worker process of the head node killed while it trains an FP32 baseline seed: its task runs again
    victim = wait_for("a training on the head node", lambda: training_workers(ray_cluster.head))[0]
    time.sleep(1.0)
    victim.kill()
    # the second node killed (SIGKILL to its raylet and the rest of its process group) while it trains a candidate,
    # once both nodes' trainings have sent a save to the driver: the retried training resumes from it
    wait_for("the FP32 baseline", (run / "baseline.json").exists)
    wait_for("a training on the second node", lambda: training_workers(ray_cluster.node))
    wait_for("both trainings' saves at the driver",
             lambda: saved_at_the_driver(ray_cluster.scratch, run / "cache" / "resume")
             >= len(training_workers(ray_cluster.head, ray_cluster.node)) >= 2)
    os.killpg(ray_cluster.node.pid, signal.SIGKILL)

    output, _ = driver.communicate(timeout=600)
    assert driver.returncode == 0, output
    trials = open_study(postgres, "cluster", create=False).get_trials()
    assert all(trial.state == COMPLETE for trial in trials), "nothing failed"
    trials = [trial for trial in trials if "repeat_of" not in trial.user_attrs]
    assert len(trials) == 4, "nothing lost, no candidate trained twice"
    baseline = json.loads((run / "baseline.json").read_text())
    nodes = set(baseline["trained_on"]) | {node for trial in trials for node in trial.user_attrs["trained_on"]}
    assert len({node.split("/")[1] for node in nodes}) == 2, f"both nodes trained: {nodes}"
    # every policy is in the driver's cache, intact, whichever node trained it; the nodes kept nothing
    policy_dirs = [Path(d) for trial in trials for d in trial.user_attrs["policy_dirs"]] + [
        Path(d) for d in baseline["policy_dirs"]]
    assert all(d.parent == run / "cache" / "train" and verify_run(d) is None for d in policy_dirs)
    assert not list(ray_cluster.scratch.glob("dse-train-*/*/complete.json")), "finished runs leave no copy on the nodes"
    assert (run / "reports" / "trials.csv").read_text().count("\n") == 5
    # the training the dead node ran was resumed from its last save on the surviving node, and its env steps count once
    resumed = [trial for trial in trials if trial.user_attrs.get("resumed_at")]
    assert resumed, "a retried training resumed from the checkpoint the driver held"
    assert all(step % 50 == 0 and 0 < step < 600 for trial in resumed for step in trial.user_attrs["resumed_at"])
    assert all(trial.user_attrs["env_steps"] == trial.user_attrs["trainings"] * 600 for trial in trials)
    assert not any((run / "cache" / "resume").iterdir()), "finished trainings leave no checkpoint at the driver"
