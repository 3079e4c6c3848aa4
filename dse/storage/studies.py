"""Optuna storages of studies: a run folder's journal file or a database URL, opened with one-line errors; a study's
counts, and the trials a stopped driver left running."""

from __future__ import annotations

import sqlite3
import warnings
from pathlib import Path

import optuna
import sqlalchemy

from dse.storage import credentials, journal
from dse.storage.settings import SETTINGS_ATTR, StudyInputError, StudySettings
from dse.storage.trials import PARAMS, counts_toward_budget
from objectives import OBJECTIVES, Objective

INTERRUPTED = "interrupted: the driver stopped before the trial finished; it is redone"


def storage_url(run_dir: Path, storage: str | None) -> str:
    """``storage``, or the run folder's own: Optuna's journal file ``study.log`` (``dse.storage.journal``).

    A study URL is a SQLAlchemy URL (``postgresql://...``, ``sqlite:///...``) or the
    path of a journal file, as ``optuna-dashboard`` takes them. A ``study.db`` of
    Optuna's relational tables, as older run folders have, opens as the SQLite
    storage it is; older SQLite journals are moved to a journal file once.
    """
    if storage:
        if storage.startswith(journal.LEGACY_SCHEME):
            database = Path(storage[len(journal.LEGACY_SCHEME):])
            moved = database.with_suffix(".log")
            if not moved.exists() and "journal" in _tables(database):
                journal.migrate(database, moved)
            return str(moved)
        return storage
    run_dir = Path(run_dir).resolve()
    database, journal_file = run_dir / journal.LEGACY_DB, run_dir / journal.JOURNAL_FILE
    if not journal_file.exists():
        tables = _tables(database)
        if "journal" in tables:
            journal.migrate(database, journal_file)
        elif "studies" in tables:
            return f"sqlite:///{database}"
    return str(journal_file)


def existing_storage_url(run_dir: Path, storage: str | None) -> str | None:
    """The storage a study already keeps, without creating or moving anything (``dse run --dry-run``).

    None when there is nothing to read yet: a new run folder, a journal file not
    written yet, or an older SQLite journal that the next ``dse run`` moves.
    """
    if storage:
        if "://" in storage:
            return storage
        return storage if Path(storage).exists() and not storage.startswith(journal.LEGACY_SCHEME) else None
    run_dir = Path(run_dir).resolve()
    if (run_dir / journal.JOURNAL_FILE).exists():
        return str(run_dir / journal.JOURNAL_FILE)
    return f"sqlite:///{run_dir / journal.LEGACY_DB}" if "studies" in _tables(run_dir / journal.LEGACY_DB) else None


def _tables(database: Path) -> set[str]:
    try:
        return journal.sqlite_tables(database)
    except sqlite3.DatabaseError as error:
        raise StudyInputError(f"{database} cannot be opened as a study: {error}") from None


def make_storage(url: str) -> optuna.storages.BaseStorage:
    """The storage behind ``url`` (a journal file's path or a SQLAlchemy URL); one-line errors.

    A URL recorded with its password hidden finds it again (``dse.storage.credentials.with_secret``); errors show it hidden.
    """
    has_password = True
    try:
        if "://" not in url:
            return optuna.storages.JournalStorage(journal.WholeRecordsBackend(url))
        connect, has_password = credentials.with_secret(url)
        storage = optuna.storages.RDBStorage(connect, engine_kwargs=_engine_kwargs(url))
        if storage.engine.name == "sqlite":
            sqlalchemy.event.listen(storage.engine, "connect", lambda connection, record: journal.write_ahead(connection))
            storage.engine.dispose()  # the connection that made the tables has no pragmas: open anew
        return storage
    except Exception as error:  # SQLAlchemy, sqlite3, the file system and drivers raise many kinds; all mean the same here
        reason = credentials.scrubbed(_first_line(error))
        hint = f" ({credentials.HINT})" if not has_password and "password" in reason else ""
        if isinstance(error, ModuleNotFoundError):  # the database's driver, an extra of dse's
            hint = " (pip install 'dse[cluster]' for PostgreSQL)"
        raise StudyInputError(f"storage {credentials.masked(url)!r} cannot be opened: {reason}{hint}") from None


def open_study(
    url: str, name: str, sampler: optuna.samplers.BaseSampler | None = None, create: bool = True,
    objectives: tuple[Objective, ...] = OBJECTIVES,
) -> optuna.Study:
    """Create (scoring ``objectives``) or load the study ``name``; a storage that cannot be opened is a one-line
    error."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = make_storage(url)
    try:
        if not create:
            return optuna.load_study(storage=storage, study_name=name, sampler=sampler)
        study = optuna.create_study(
            storage=storage, study_name=name, directions=[objective.direction for objective in objectives], sampler=sampler,
            load_if_exists=True,
        )
    except KeyError:
        raise StudyInputError(f"storage {credentials.masked(url)!r} has no study named {name!r}") from None
    if study.metric_names is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([objective.title for objective in objectives])
    return study


def _engine_kwargs(url: str) -> dict:
    return {"connect_args": {"timeout": journal.BUSY_SECONDS}} if url.startswith("sqlite") else {}


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def stored_settings(study: optuna.Study) -> StudySettings | None:
    data = study.user_attrs.get(SETTINGS_ATTR)
    return None if data is None else StudySettings.from_dict(data)


def recover_interrupted(study: optuna.Study, ask_again: bool) -> int:
    """Mark trials a stopped driver left running as failed (interrupted); with ``ask_again``, enqueue their parameters.

    Planned strategies re-plan what they miss by themselves, so they pass ``ask_again=False``. A trial that reached a
    rung (multi-fidelity) is left running: the driver takes it back as paused there.
    """
    left = [trial for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
            if "rung_returns" not in trial.user_attrs]
    for frozen in left:
        trial = optuna.Trial(study, frozen._trial_id)
        trial.set_user_attr("interrupted", True)
        trial.set_user_attr("fail_reason", INTERRUPTED)
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        if ask_again and len(frozen.params) == len(PARAMS):
            study.enqueue_trial(frozen.params)
    return len(left)


def finished_in(url: str, name: str) -> int:
    """Trials of study ``name`` in the storage at ``url`` that count toward the budget; 0 when it has no such study."""
    try:
        study = optuna.load_study(study_name=name, storage=make_storage(url))
    except KeyError:
        return 0
    return finished_count(study)


def finished_count(study: optuna.Study) -> int:
    """Trials that count toward the budget."""
    return sum(counts_toward_budget(trial) for trial in study.get_trials(deepcopy=False))


