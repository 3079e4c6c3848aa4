"""One driver per study: a lease kept in the study's own storage, so it holds across machines sharing one database.

A driver writes who it is (host, process id, a random token) and when it was last
alive into a study attribute, and refreshes it while it runs. A second driver on the
same study and storage refuses to start while that lease is alive: two drivers would
each mark the other's running trials as interrupted. A lease is dead when its
process is gone (same host) or it has not been refreshed for ``LEASE_SECONDS``
(another host), so a driver killed with SIGKILL can be restarted at once on its own
machine, and within a minute from anywhere.
"""

from __future__ import annotations

import os
import socket
import time
import uuid

import optuna

from dse.storage.settings import StudyInputError

DRIVER_ATTR = "dse_driver"
LEASE_SECONDS = 60.0
"""a lease not refreshed for this long belongs to a driver that has stopped"""
REFRESH_SECONDS = 10.0
"""how often a running driver refreshes its lease"""


class DriverLease:
    """The right to drive ``study``: ``acquire`` before touching its trials, ``refresh`` while running, ``release`` at the end."""

    def __init__(self, study: optuna.Study, name: str):
        self.study = study
        self.name = name
        self.holder = {"host": socket.gethostname(), "pid": os.getpid(), "token": uuid.uuid4().hex}
        self._refreshed = 0.0

    def acquire(self) -> None:
        """Take the lease, or a one-line StudyInputError naming the driver that holds it."""
        current = self.study.user_attrs.get(DRIVER_ATTR)
        if current and self._alive(current):
            raise StudyInputError(self._held_by(current))
        self._write()
        current = self.study.user_attrs.get(DRIVER_ATTR)
        if current.get("token") != self.holder["token"]:  # another driver wrote in the same instant and won
            raise StudyInputError(self._held_by(current))

    def refresh(self) -> None:
        """Mark this driver alive (at most every REFRESH_SECONDS); a lease another driver took over is an error."""
        if time.time() - self._refreshed < REFRESH_SECONDS:
            return
        current = self.study.user_attrs.get(DRIVER_ATTR) or {}
        if current.get("token") != self.holder["token"]:
            raise StudyInputError(f"study {self.name!r} was taken over by another driver ({_who(current)}): this one stops")
        self._write()

    def release(self) -> None:
        current = self.study.user_attrs.get(DRIVER_ATTR) or {}
        if current.get("token") == self.holder["token"]:
            self.study.set_user_attr(DRIVER_ATTR, None)

    def _write(self) -> None:
        self._refreshed = time.time()
        self.study.set_user_attr(DRIVER_ATTR, {**self.holder, "refreshed": self._refreshed})

    def _alive(self, lease: dict) -> bool:
        if time.time() - lease.get("refreshed", 0.0) > LEASE_SECONDS:
            return False
        if lease.get("host") == self.holder["host"]:
            # a lease of this very process is one an earlier study call in it left behind
            return lease.get("pid") != self.holder["pid"] and _process_exists(lease.get("pid", -1))
        return True

    def _held_by(self, lease: dict) -> str:
        age = time.time() - lease.get("refreshed", 0.0)
        return (
            f"study {self.name!r} is being driven by another dse run ({_who(lease)}, alive {age:.0f} s ago): "
            f"wait for it to finish or stop it (a stopped driver's lease lapses after {LEASE_SECONDS:.0f} s)"
        )


def _who(lease: dict) -> str:
    return f"process {lease.get('pid')} on {lease.get('host')}"


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
