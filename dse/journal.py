"""A study's Optuna journal kept in one SQLite file: the default storage of a run folder.

Optuna's relational schema costs a dozen ORM statements per operation on SQLite:
bare ask, suggest and tell reach about 22 trials/s on the 2-core machine, and the
driver, which also writes a trial's attributes and constraints, under 10. Optuna's
JournalStorage keeps the study in memory and appends one record per operation; here
each append is one SQLite insert, so the driver is never what limits a cluster
(bench/driver_throughput.py). SQLite gives the journal what it needs: appends that
are atomic and ordered across processes (two drivers, a report reading while a
driver writes), and a committed record survives the writer being killed.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from optuna.storages.journal import BaseJournalBackend

SCHEME = "sqlite-journal:///"
"""a storage URL naming a journal file: ``sqlite-journal:///`` followed by its path"""
BUSY_SECONDS = 60
"""how long a writer waits for another process's transaction to end"""


def write_ahead(connection) -> None:
    """Write-ahead log synced at checkpoints on a SQLite connection (sqlite3's, or the one SQLAlchemy opens).

    A commit need not wait for the disk, and a killed process still loses no
    committed record (a power cut may lose the last few).
    """
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class SQLiteJournal(BaseJournalBackend):
    """Optuna's journal backend on a SQLite table: log number n is row n + 1."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()  # one connection, shared by the dashboard's threads
        self._connection = sqlite3.connect(self.path, timeout=BUSY_SECONDS, check_same_thread=False)
        write_ahead(self._connection)
        with self._connection:
            self._connection.execute("CREATE TABLE IF NOT EXISTS journal (number INTEGER PRIMARY KEY, log TEXT NOT NULL)")

    def read_logs(self, log_number_from: int) -> Iterable[dict[str, Any]]:
        with self._lock:
            rows = self._connection.execute(
                "SELECT log FROM journal WHERE number > ? ORDER BY number", (log_number_from,)
            ).fetchall()
        return [json.loads(log) for (log,) in rows]

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        with self._lock, self._connection:
            self._connection.executemany(
                "INSERT INTO journal (log) VALUES (?)", [(json.dumps(log, separators=(",", ":")),) for log in logs]
            )
