"""A PostgreSQL server of Debian's package for a test module, on loopback, with an empty database ``dse``.

Without the package the tests that need it are skipped, unless DSE_REQUIRE_SERVICES=1 (as in CI) makes that a failure.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import urllib.parse
from pathlib import Path

import pytest


def missing(what: str):
    if os.environ.get("DSE_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{what} (DSE_REQUIRE_SERVICES=1)")
    pytest.skip(what)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def as_postgres(command: list[str]) -> list[str]:
    """initdb and the server refuse to run as root: run them as the postgres account there."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@contextlib.contextmanager
def postgres_server(password: str | None = None):
    """The URL of a fresh server's database ``dse`` (user ``dse``).

    With ``password`` the server checks it (scram-sha-256) and the URL carries it, URL-encoded; without, it trusts loopback.
    """
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        missing("PostgreSQL is not installed (apt-get install postgresql)")
    pg_bin = Path(found[-1]).parent
    data = Path(tempfile.mkdtemp(prefix="dse-pg-"))
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    port = free_port()
    auth = ["--auth=trust"]
    if password is not None:
        (data / "password").write_text(password)
        if os.geteuid() == 0:
            shutil.chown(data / "password", "postgres", "postgres")
        auth = ["--auth=scram-sha-256", f"--pwfile={data / 'password'}"]
    environment = {**os.environ, "PGPASSWORD": password or ""}
    subprocess.run(as_postgres([str(pg_bin / "initdb"), "-D", str(data / "db"), "-U", "dse", *auth]),
                   check=True, capture_output=True)
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1"
    subprocess.run(as_postgres([str(pg_bin / "pg_ctl"), "-D", str(data / "db"), "-o", options, "-l", str(data / "log"),
                                "-w", "start"]), check=True, capture_output=True)
    try:
        subprocess.run(as_postgres([str(pg_bin / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "dse", "dse"]),
                       check=True, capture_output=True, env=environment)
        user = "dse" if password is None else f"dse:{urllib.parse.quote(password, safe='')}"
        yield f"postgresql://{user}@127.0.0.1:{port}/dse"
    finally:
        subprocess.run(as_postgres([str(pg_bin / "pg_ctl"), "-D", str(data / "db"), "-m", "immediate", "stop"]),
                       capture_output=True)
        shutil.rmtree(data, ignore_errors=True)
