"""Storage passwords and the Ray token: in nothing dse writes or prints, and found again from the environment.

The server tests use a PostgreSQL server that checks passwords (scram-sha-256, tests/dse/postgres.py).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from sqlalchemy.engine import make_url

from dse.storage import credentials
from dse.storage.run_folder import MANIFEST, open_run_study
from tests.dse.postgres import postgres_server
from tests.dse.tiny import TINY_STUDY

SECRET = secrets.token_hex(12)
PASSWORD = f"{SECRET}@/x"
"""with characters a URL must encode, so both of its forms are looked for"""
TOKEN = secrets.token_hex(16)
ONE_SEED = [*TINY_STUDY, "--seeds", "1"]


@pytest.fixture(autouse=True)
def nothing_given(monkeypatch, tmp_path):
    """Each test starts as a fresh process would: no URL given, no DSE_STORAGE, no PGPASSWORD, no ~/.pgpass."""
    monkeypatch.setattr(credentials, "_given", {})
    for name in (credentials.ENVIRONMENT_VARIABLE, "PGPASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-pgpass"))


def test_a_url_is_shown_and_recorded_with_its_password_hidden():
    url = "postgresql://dse:p%40ss@db:5432/dse?sslmode=require"
    assert credentials.masked(url) == "postgresql://dse:***@db:5432/dse?sslmode=require"
    assert credentials.masked("runs/x/study.log") == "runs/x/study.log"
    assert credentials.masked("postgresql://dse@db/dse") == "postgresql://dse@db/dse"
    argv = ["dse", "run", "--storage", url, f"--storage={url}", "--out", "runs/x"]
    assert credentials.masked_argv(argv) == ["dse", "run", "--storage", credentials.masked(url),
                                             f"--storage={credentials.masked(url)}", "--out", "runs/x"]
    assert credentials.same_storage(credentials.masked(url), url)
    assert credentials.same_storage("postgresql://dse@db:5432/dse?sslmode=require", url)
    assert not credentials.same_storage("postgresql://dse:***@db:5432/other", url)
    assert not credentials.same_storage("runs/x/study.log", url)


def test_a_hidden_password_is_found_in_what_the_process_was_given_then_in_dse_storage(monkeypatch):
    recorded = "postgresql://dse:***@db/dse"
    assert credentials.with_secret(recorded) == ("postgresql://dse@db/dse", False), "libpq's PGPASSWORD / ~/.pgpass"
    monkeypatch.setenv(credentials.ENVIRONMENT_VARIABLE, "postgresql://dse:from-env@db/dse")
    assert credentials.with_secret(recorded) == ("postgresql://dse:from-env@db/dse", True)
    monkeypatch.setenv(credentials.ENVIRONMENT_VARIABLE, "postgresql://dse:from-env@elsewhere/dse")
    assert credentials.with_secret(recorded)[1] is False, "DSE_STORAGE naming another storage lends it nothing"
    assert credentials.remember("postgresql://dse:given@db/dse") == recorded
    assert credentials.with_secret(recorded) == ("postgresql://dse:given@db/dse", True)
    assert credentials.scrubbed("failed for dse:given and from-env") == "failed for dse:*** and ***"


def run_dse(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": TOKEN, "RAY_USAGE_STATS_ENABLED": "0",
                   **(env or {})}
    return subprocess.run([sys.executable, "-m", "dse.cli", *args], env=environment, capture_output=True, text=True,
                          timeout=600)


def leaked(text: str | bytes) -> list[str]:
    """Which of the password (as typed or URL-encoded) and the Ray token ``text`` holds."""
    text = text if isinstance(text, bytes) else text.encode()
    return [name for name, secret in (("password", SECRET), ("ray token", TOKEN)) if secret.encode() in text]


def leaks_in(folder: Path) -> dict[str, list[str]]:
    """Files under ``folder`` (reports, CSV, Parquet, the cache's runs, ...) that hold the password or the token."""
    files = [path for path in folder.rglob("*") if path.is_file()]
    assert len(files) > 20 and any(path.suffix == ".parquet" for path in files)
    return {str(path.relative_to(folder)): leaked(path.read_bytes()) for path in files if leaked(path.read_bytes())}


@pytest.fixture(scope="module")
def server():
    """The URL of a server that checks the password, which the URL carries URL-encoded."""
    with postgres_server(PASSWORD) as url:
        assert SECRET in url and PASSWORD not in url
        yield url


@pytest.fixture(scope="module")
def study(server, tmp_path_factory):
    """A one-candidate study run with the password on the command line (as the issue's user did); (folder, output)."""
    run = tmp_path_factory.mktemp("credentials") / "study"
    result = run_dse("run", *ONE_SEED, "--budget", "1", "--storage", server, "--study-name", "secret", "--out", str(run))
    assert result.returncode == 0, result.stderr
    assert "password on the command line is visible" in result.stderr
    assert "removed the storage password" not in result.stderr, "run.json never held it, not even for a while"
    return run, result.stdout + result.stderr


def test_the_password_and_the_ray_token_are_in_no_file_and_no_output_and_the_study_resumes_from_the_environment(
        study, server, monkeypatch):
    run, printed = study
    assert leaks_in(run) == {}, "the study's own files, before anything else opened them"
    recorded = json.loads((run / MANIFEST).read_text())
    assert recorded["storage"] == credentials.masked(server) and "***" in recorded["storage"]
    # resumed with the URL only in DSE_STORAGE: the command line holds no storage at all
    resumed = run_dse("run", *ONE_SEED, "--budget", "2", "--out", str(run), env={"DSE_STORAGE": server})
    assert resumed.returncode == 0, resumed.stderr
    assert "password on the command line" not in resumed.stderr
    # the full URL given again matches the record that masks it
    planned = run_dse("run", *ONE_SEED, "--budget", "3", "--out", str(run), "--storage", server, "--dry-run")
    assert planned.returncode == 0 and "plan: 1 candidates x 1 seeds" in planned.stdout, planned.stdout + planned.stderr
    # read with the password only in libpq's PGPASSWORD
    report = run_dse("report", str(run), env={"PGPASSWORD": PASSWORD})
    assert report.returncode == 0, report.stderr
    # dse dashboard opens the storage as the report does: from the record and the environment
    monkeypatch.setenv(credentials.ENVIRONMENT_VARIABLE, server)
    trials = open_run_study(run).get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(trials) == 2, "the resumed study trained its second candidate"
    for output in (printed, *(result.stdout + result.stderr for result in (resumed, planned, report))):
        assert leaked(output) == []
    assert "removed the storage password" not in resumed.stderr + report.stderr, "nothing had to be cleaned"
    assert leaks_in(run) == {}
    commands = json.loads((run / MANIFEST).read_text())["commands"]
    assert [command["argv"][command["argv"].index("--storage") + 1] for command in commands
            if "--storage" in command["argv"]] == [recorded["storage"]], "the first command's URL, masked; the resume's none"


def test_a_wrong_password_and_a_refused_connection_are_one_line_without_the_password(study, server):
    run, _ = study
    wrong = server.replace(SECRET, "wrong" + SECRET[::-1])
    refused = make_url(server).set(port=1).render_as_string(hide_password=False)
    for result in (run_dse("report", str(run), env={"DSE_STORAGE": wrong}),
                   run_dse("run", *ONE_SEED, "--budget", "1", "--out", str(run.parent / "refused"),
                           env={"DSE_STORAGE": refused})):
        assert result.returncode == 2
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert result.stderr.startswith("dse: error: storage 'postgresql://dse:***@127.0.0.1:")
        assert leaked(result.stderr + result.stdout) == [] and SECRET[::-1] not in result.stderr
    assert "password authentication failed" in run_dse("report", str(run), env={"DSE_STORAGE": wrong}).stderr
    no_password = run_dse("report", str(run))
    assert no_password.returncode == 2 and "no password given for it: set DSE_STORAGE" in no_password.stderr


def test_an_old_run_folder_loses_its_password_on_the_next_open(study, server, tmp_path):
    run = tmp_path / "old"
    shutil.copytree(study[0], run)
    manifest = json.loads((run / MANIFEST).read_text())
    manifest["storage"] = server
    for command in manifest["commands"]:
        command["argv"] = [server if argument.startswith("postgresql://") else argument for argument in command["argv"]]
    (run / MANIFEST).write_text(json.dumps(manifest, indent=2))
    assert leaked((run / MANIFEST).read_text()) == ["password"]
    # the open that cleans still reads the study with the password it found; the notice is one line
    first = run_dse("report", str(run))
    assert first.returncode == 0, first.stderr
    assert [line for line in first.stderr.splitlines() if line.startswith("dse: removed the storage password from")]
    assert leaked(first.stderr + first.stdout) == [] and leaked((run / MANIFEST).read_bytes()) == []
    cleaned = json.loads((run / MANIFEST).read_text())
    assert cleaned["storage"] == credentials.masked(server)
    assert cleaned["commands"][0]["argv"] == json.loads((study[0] / MANIFEST).read_text())["commands"][0]["argv"]
    # once: later opens say nothing and, the password gone from the folder, need it from the environment
    assert run_dse("report", str(run)).returncode == 2
    again = run_dse("report", str(run), env={"PGPASSWORD": PASSWORD})
    assert again.returncode == 0 and "removed the storage password" not in again.stderr
