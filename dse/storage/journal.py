"""Run folders keep their study in Optuna's journal file; this moves the SQLite journals of older run folders into one.

A run folder's study is ``study.log``: Optuna's ``JournalFileBackend``, which
``optuna.load_study`` and the ``optuna-dashboard`` command open as their docs
say (``JournalStorage(JournalFileBackend("RUN/study.log"))``, ``optuna-dashboard
RUN/study.log``). Run folders made by an earlier dse kept the same journal records
in a table of their ``study.db`` (or of a ``--storage sqlite-journal:///PATH``
file), which neither tool can read; opening such a folder copies its records,
in order, into the journal file once and keeps the old file beside it as
``<name>.bak``. Explicit ``sqlite:///`` storages (Optuna's own tables) get a
write-ahead log here.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import sys
from pathlib import Path

from optuna.storages.journal import JournalFileBackend

JOURNAL_FILE = "study.log"
"""a run folder's study: Optuna's journal file"""
LEGACY_DB = "study.db"
"""where older run folders kept their study: a SQLite journal, or (older still) Optuna's relational tables"""
LEGACY_SCHEME = "sqlite-journal:///"
"""a storage URL of an older dse naming a SQLite journal file"""
BUSY_SECONDS = 60
"""how long a writer to a SQLite storage waits for another process's transaction to end"""


def write_ahead(connection) -> None:
    """Write-ahead log synced at checkpoints on a SQLite connection (the one SQLAlchemy opens for sqlite:/// URLs).

    A commit need not wait for the disk, and a killed process still loses no
    committed record (a power cut may lose the last few).
    """
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def sqlite_tables(path: Path) -> set[str]:
    """The tables of a SQLite file (none when it does not exist)."""
    if not path.exists():
        return set()
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
        return {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def migrate(database: Path, journal_file: Path) -> Path:
    """Copy the journal records of a SQLite journal into Optuna's journal file ``journal_file``; the old file -> .bak."""
    with contextlib.closing(sqlite3.connect(database, timeout=BUSY_SECONDS)) as connection:
        logs = [json.loads(log) for (log,) in connection.execute("SELECT log FROM journal ORDER BY number")]
    partial = journal_file.with_name(f".{journal_file.name}.partial")
    partial.unlink(missing_ok=True)
    JournalFileBackend(str(partial)).append_logs(logs)
    os.replace(partial, journal_file)
    os.replace(database, database.with_name(database.name + ".bak"))
    print(f"dse: {database} (a SQLite journal of an older dse) moved to Optuna's journal file {journal_file}; "
          f"the old file is kept as {database.name}.bak", file=sys.stderr)
    return journal_file
