"""One driver per study: the lease in the study's storage refuses a second driver while the first is alive."""

import socket
import subprocess
import time

import pytest

from dse.storage.lease import DRIVER_ATTR, LEASE_SECONDS, DriverLease
from dse.storage.settings import StudyInputError
from dse.storage.studies import open_study, storage_url


@pytest.fixture
def study(tmp_path):
    return open_study(storage_url(tmp_path, None), "s")


@pytest.fixture
def other_process():
    process = subprocess.Popen(["sleep", "60"])
    yield process
    process.kill()
    process.wait()


def test_a_live_driver_on_this_host_keeps_the_study_until_its_process_ends(study, other_process):
    first = DriverLease(study, "s")
    first.holder["pid"] = other_process.pid  # the first driver is another process
    first.acquire()
    second = DriverLease(study, "s")
    with pytest.raises(StudyInputError) as refused:
        second.acquire()
    assert f"study 's' is being driven by another dse run (process {other_process.pid} on {socket.gethostname()}" in str(
        refused.value
    )
    other_process.kill()
    other_process.wait()
    second.acquire()  # its process is gone: the lease is dead at once
    assert study.user_attrs[DRIVER_ATTR]["token"] == second.holder["token"]
    first._refreshed = 0.0
    with pytest.raises(StudyInputError, match="study 's' was taken over by another driver"):
        first.refresh()


@pytest.mark.parametrize(("age", "refused"), [(5.0, True), (LEASE_SECONDS + 5.0, False)])
def test_a_driver_on_another_host_holds_the_study_until_its_lease_lapses(study, age, refused):
    study.set_user_attr(DRIVER_ATTR, {"host": "node-7", "pid": 1, "token": "x", "refreshed": time.time() - age})
    lease = DriverLease(study, "s")
    if refused:
        with pytest.raises(StudyInputError, match=r"process 1 on node-7, alive 5 s ago\): wait for it to finish"):
            lease.acquire()
    else:
        lease.acquire()
        assert study.user_attrs[DRIVER_ATTR]["host"] == socket.gethostname()


def test_a_released_lease_lets_the_next_driver_in(study):
    first = DriverLease(study, "s")
    first.acquire()
    first.release()
    assert study.user_attrs[DRIVER_ATTR] is None
    DriverLease(study, "s").acquire()
