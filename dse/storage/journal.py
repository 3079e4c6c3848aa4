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
import errno
import json
import os
import re
import sqlite3
import sys
from pathlib import Path

from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock

from training.files import no_space

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


class WholeRecordsBackend(JournalFileBackend):
    """Optuna's journal file, whose append a full disk leaves as it was, with one line naming the file and the bytes.

    Optuna's own append leaves a record cut short on a full disk, which its next append would continue into a line no
    reader parses; so this one writes as Optuna's does (under the same lock, synced) and on a full disk truncates the
    file back to where the append began before it lets the lock go.
    """

    def __init__(self, file_path: str):
        self.lock = JournalFileSymlinkLock(file_path)
        super().__init__(file_path, lock_obj=self.lock)
        self.path = Path(file_path)

    def append_logs(self, logs: list[dict]) -> None:
        records = ("\n".join(json.dumps(log, separators=(",", ":")) for log in logs) + "\n").encode()
        try:
            self.lock.acquire()
        except OSError as error:  # the lock is a new link: it too needs space
            if error.errno == errno.ENOSPC:
                raise no_space(self.path, len(records)) from None
            raise
        try:
            with open(self.path, "ab", buffering=0) as file:  # unbuffered: a refused write leaves nothing to flush
                begun = file.tell()
                try:
                    unwritten = memoryview(records)
                    while unwritten:
                        unwritten = unwritten[file.write(unwritten):]
                    os.fsync(file.fileno())
                except OSError as error:
                    if error.errno != errno.ENOSPC:
                        raise
                    os.truncate(self.path, begun)
                    raise no_space(self.path, len(records)) from None
        finally:
            self.lock.release()


def _cut_to_whole_records(journal_file: Path) -> bytes:
    """Truncate ``journal_file`` after its last whole record (line); the bytes cut."""
    with open(journal_file, "rb+") as file:
        data = file.read()
        if not data or data.endswith(b"\n"):
            return b""
        keep = data.rfind(b"\n") + 1
        file.truncate(keep)
        file.flush()
        os.fsync(file.fileno())
    return data[keep:]


def drop_cut_record(journal_file: Path) -> int:
    """Drop a last record cut short (a driver killed mid-append) with one line saying so; its bytes.

    Optuna reads past such a line, but its next append would continue it and leave a journal it cannot read. The
    journal's own lock is held, so no append by a live driver is mistaken for a cut one.
    """
    if not journal_file.is_file() or journal_file.stat().st_size == 0:
        return 0
    with open(journal_file, "rb") as file:
        file.seek(-1, os.SEEK_END)
        if file.read(1) == b"\n":  # whole, as nearly always: no lock, no reading it all
            return 0
    lock = JournalFileSymlinkLock(str(journal_file))
    lock.acquire()
    try:
        cut = _cut_to_whole_records(journal_file)
    finally:
        lock.release()
    if not cut:
        return 0
    operation = re.match(rb'\{"op_code":(\d+)', cut)
    what = f"operation {int(operation.group(1))}" if operation else "an unknown operation"
    print(f"dse: the last record of {journal_file} was cut short ({len(cut)} bytes, {what}; a driver stopped while "
          "writing it): dropped, the study goes on from the records before it", file=sys.stderr)
    return len(cut)


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
