"""Storage passwords: kept in memory, never written or printed.

Whatever dse writes or prints shows a storage URL as SQLAlchemy renders it with
``hide_password`` (``postgresql://dse:***@db/dse``): run.json's ``storage`` and
recorded commands, error lines, reports. A run folder records that form, and
wherever a study is opened again (resume, ``dse report``, ``dse dashboard``) the
password comes from where the user keeps it: a URL given to this process
(``--storage``), the environment variable ``DSE_STORAGE`` (the whole URL, which
keeps it off command lines: Ray records a driver's command line as its job's
entrypoint), or libpq's own ``PGPASSWORD`` and ``~/.pgpass``, which the
PostgreSQL driver reads when a URL has no password.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.parse
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from training.files import write_whole

ENVIRONMENT_VARIABLE = "DSE_STORAGE"
HIDDEN = "***"
"""how a password is shown (SQLAlchemy's hide_password rendering)"""
HINT = f"no password given for it: set {ENVIRONMENT_VARIABLE} to the whole URL, or PGPASSWORD, or a ~/.pgpass line"

_given: dict[str, str] = {}
"""URLs with their passwords that this process was given, by their form without one"""


def _parse(url: str | None) -> URL | None:
    if not url:
        return None
    try:
        return make_url(url)
    except (ArgumentError, ValueError):  # a journal file's path, not a URL
        return None


def _secret(storage: str | None) -> str | None:
    """The password ``storage`` shows (None when it is no URL, or hides or lacks its password)."""
    url = _parse(storage)
    return url.password if url is not None and url.password != HIDDEN else None


def _without_password(url: URL) -> str:
    return URL.create(url.drivername, url.username, None, url.host, url.port, url.database, url.query).render_as_string(
        hide_password=False
    )


def masked(storage: str | None) -> str | None:
    """``storage`` with its password shown as ``***``; journal paths and URLs without a password unchanged."""
    url = _parse(storage)
    return storage if url is None or url.password is None else url.render_as_string(hide_password=True)


def masked_argv(argv: list[str]) -> list[str]:
    """A command line as it may be recorded: every URL in it (``--storage URL`` or ``--storage=URL``) masked."""
    def one(argument: str) -> str:
        if argument.startswith("-") and "=" in argument:
            option, value = argument.split("=", 1)
            return f"{option}={masked(value)}"
        return masked(argument)

    return [one(argument) for argument in argv]


def same_storage(one: str | None, other: str | None) -> bool:
    """Whether two storage names are one storage, whichever of them shows, hides or lacks its password."""
    if one is None or other is None:
        return one == other
    parsed = [_parse(one), _parse(other)]
    if None in parsed:
        return one == other
    return _without_password(parsed[0]) == _without_password(parsed[1])


def from_environment() -> str | None:
    """The storage ``DSE_STORAGE`` names (None when unset or empty)."""
    return os.environ.get(ENVIRONMENT_VARIABLE) or None


def remember(storage: str | None) -> str | None:
    """Keep a given URL's password for this process (``with_secret`` finds it); returns the URL as it may be recorded."""
    if _secret(storage) is not None:
        _given[_without_password(_parse(storage))] = storage
    return masked(storage)


def with_secret(storage: str) -> tuple[str, bool]:
    """(the URL to connect with, whether it carries a password) for a recorded ``storage``.

    A URL that shows its password is used as it is. One that hides or lacks it takes
    it from a URL this process was given, else from ``DSE_STORAGE`` when that names
    the same storage, else goes without (libpq then reads PGPASSWORD or ~/.pgpass).
    """
    url = _parse(storage)
    if url is None or _secret(storage) is not None:
        return storage, url is not None
    key = _without_password(url)
    if key in _given:
        return _given[key], True
    environment = from_environment()
    if environment and same_storage(environment, storage):
        return environment, _secret(environment) is not None
    return key, False


def scrubbed(text: str) -> str:
    """``text`` (a driver's error message, say) with every password this process knows shown as ``***``."""
    for secret in {_secret(url) for url in [*_given.values(), from_environment()]} - {None, ""}:
        for form in {secret, urllib.parse.quote_plus(secret), urllib.parse.quote(secret, safe="")}:
            text = text.replace(form, HIDDEN)
    return text


def warn_if_on_command_line(storage: str | None) -> None:
    """A password typed into ``--storage`` is visible to every process (``ps``) and kept by Ray: say so."""
    if _secret(storage) is not None:
        print(
            f"dse: note: the storage password on the command line is visible to other processes and recorded by Ray as "
            f"the job's entrypoint; give it through {ENVIRONMENT_VARIABLE}, PGPASSWORD or ~/.pgpass instead",
            file=sys.stderr,
        )


def clean_manifest(manifest: dict, path: Path) -> dict:
    """A run folder's manifest without passwords; one written by an older dse is rewritten once, with a notice.

    The password it held is kept for this process, so the command that cleans the
    folder still opens its storage; later ones find it in the environment.
    """
    cleaned = dict(manifest)
    if "storage" in manifest:
        cleaned["storage"] = remember(manifest["storage"])
    if "commands" in manifest:
        cleaned["commands"] = [{**command, "argv": masked_argv(command["argv"])} if "argv" in command else command
                               for command in manifest["commands"]]
    if cleaned == manifest:
        return manifest
    try:
        write_whole(path, json.dumps(cleaned, indent=2))
    except OSError as error:
        print(f"dse: {path} holds a storage password that could not be removed: {error.strerror}", file=sys.stderr)
        return cleaned
    print(f"dse: removed the storage password from {path}; from now on give it through {ENVIRONMENT_VARIABLE}, "
          "PGPASSWORD or ~/.pgpass", file=sys.stderr)
    return cleaned
