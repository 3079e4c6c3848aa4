"""``dse run``: open or continue a study in its run folder, train the baseline, drive the trials."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import optuna

from dse.storage import credentials
from dse.storage.journal import drop_cut_record
from dse.storage.lease import DriverLease
from dse.storage.run_folder import MANIFEST, read_manifest, record_command
from dse.storage.settings import PLANNED, SETTINGS_ATTR, StudyInputError, StudySettings
from dse.storage.studies import (
    existing_storage_url,
    finished_count,
    finished_in,
    open_study,
    recover_interrupted,
    storage_url,
    stored_settings,
)
from dse.strategies.samplers import make_sampler, startup_candidates
from dse.study.driver import Driver
from dse.study.executor import CheckpointSettings, RayExecutor
from dse.study.plan import StudyPlan, fit_memory, local_memory, memory_of, plan_study
from dse.study.tasks import cached_outcome
from training.checkpoint import DEFAULT_SECONDS


def _check_same(stored: StudySettings, asked: StudySettings, where: str) -> None:
    if stored.search_version != asked.search_version:
        raise StudyInputError(
            f"{where} holds a study made when folding was a search axis (search version {stored.search_version}; this "
            f"dse: {asked.search_version}): its trials are not comparable with new ones; dse report still reads it; "
            "choose another --out"
        )
    made, now = (stored.results_version, stored.hardware_model_version), (asked.results_version, asked.hardware_model_version)
    if made != now:
        raise StudyInputError(
            f"{where} holds a study scored by another version of dse (results version {made[0]}, hardware model "
            f"{made[1]}; this one: {now[0]}, {now[1]}): its trials are not comparable with new ones; choose another --out"
        )
    if stored.env_id != asked.env_id:
        raise StudyInputError(f"{where} holds a study of {stored.env_id}, not {asked.env_id}: choose another --out")
    differences = stored.differences(asked)
    if differences:
        shown = "; ".join(differences[:3]) + ("; ..." if len(differences) > 3 else "")
        raise StudyInputError(f"{where} holds a study with other settings ({shown}): repeat its options or choose another --out")


def _check_writable(folder: Path, what: str) -> None:
    """Before any work: a study that could not keep its results must not start."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise StudyInputError(f"{what} {folder} is not writable: {error.strerror}") from None


def _resolve(run_dir: Path, settings: StudySettings, storage: str | None, study_name: str | None):
    """(manifest or None, storage as recorded, study name) of the study in ``run_dir``; a folder of another study is refused.

    ``storage`` (``--storage``, else ``DSE_STORAGE``) is kept with its password for this process only; the record hides it.
    """
    source = "--storage"
    if storage is None and (environment := credentials.from_environment()):
        storage, source = environment, credentials.ENVIRONMENT_VARIABLE
    storage = credentials.remember(storage)
    manifest = read_manifest(run_dir) if (run_dir / MANIFEST).exists() else None
    if manifest is not None:
        _check_same(StudySettings.from_dict(manifest["settings"]), settings, f"run folder {run_dir}")
        if storage is not None and not credentials.same_storage(storage, manifest["storage"]):
            raise StudyInputError(f"run folder {run_dir} keeps its study in {manifest['storage'] or 'study.log'}, "
                                  f"not {storage} ({source})")
        if study_name is not None and study_name != manifest["study_name"]:
            raise StudyInputError(f"run folder {run_dir} holds study {manifest['study_name']!r}, not {study_name!r}")
        storage, study_name = manifest["storage"], manifest["study_name"]
    return manifest, storage, study_name or run_dir.resolve().name


def plan(
    run_dir: Path, settings: StudySettings, *, budget: int, storage: str | None = None, study_name: str | None = None,
    cache: str | Path | None = None, workers: int = 1, task_per_seed: bool = False, local: bool = True,
) -> StudyPlan:
    """What running the study in ``run_dir`` to ``budget`` still costs; creates no run folder and trains nothing.
    ``local``: the trainings run on this machine, whose memory they are fitted to."""
    run_dir = Path(run_dir)
    notes: tuple[str, ...] = ()
    if local:
        workers, task_per_seed, notes = fit_memory(settings, workers, task_per_seed, local_memory())
    _, storage, study_name = _resolve(run_dir, settings, storage, study_name)
    url = existing_storage_url(run_dir, storage)
    finished = finished_in(url, study_name) if url else 0
    cache_dir = Path(cache) if cache else run_dir / "cache"
    return plan_study(settings, budget, finished, workers, _baseline_cached(settings, cache_dir), task_per_seed, notes)


def _baseline_cached(settings: StudySettings, cache_dir: Path) -> bool:
    return all(cached_outcome(spec, cache_dir / "train") is not None for spec in settings.baseline_specs())


def _open(run_dir: Path, settings: StudySettings, storage: str | None, study_name: str):
    """The study and the settings it was made with (None: a new study); a study of other settings is refused."""
    url = storage_url(run_dir, storage)
    if "://" not in url:  # a journal file: a record a stopped driver cut short would spoil the next append
        drop_cut_record(Path(url))
    study = open_study(url, study_name, objectives=settings.objectives)
    existing = stored_settings(study)
    if existing is not None:
        _check_same(existing, settings, f"study {study_name!r}")
    elif study.get_trials(deepcopy=False):
        raise StudyInputError(f"study {study_name!r} in the storage was not made by dse run; choose another --study-name")
    return study, existing


def _recover(study: optuna.Study, settings: StudySettings, log: Callable[[str], None]) -> int:
    """The study's sampler set, the trials a stopped driver left running marked failed; the trials finished."""
    study.sampler = make_sampler(settings, trials_so_far=len(study.get_trials(deepcopy=False)))
    interrupted = recover_interrupted(study, ask_again=settings.strategy not in PLANNED)
    if interrupted:
        log(f"{interrupted} trial(s) left running by a stopped driver: marked failed (interrupted) and asked again")
    return finished_count(study)


def run_study(
    run_dir: Path,
    settings: StudySettings,
    *,
    budget: int,
    storage: str | None = None,
    study_name: str | None = None,
    cache: str | Path | None = None,
    workers: int = 1,
    cpus_per_task: float = 1.0,
    threads: int = 1,
    ray_address: str | None = None,
    task_per_seed: bool = False,
    checkpoint_steps: int | None = None,
    checkpoint_minutes: float = DEFAULT_SECONDS / 60,
    command: list[str] | None = None,
    log: Callable[[str], None] = print,
    executor=None,
    designs: Callable | None = None,
) -> None:
    """Run (or continue) the study in ``run_dir`` until ``budget`` trials have finished (``dse.reports`` reports it).

    Trainings save themselves every ``checkpoint_steps`` env steps or ``checkpoint_minutes`` (0: by steps only;
    neither: only where they pause at a rung) into ``cache/resume/``, and resume from there (``dse.study.executor``).
    ``executor`` and ``designs`` replace Ray and the hardware pricing of trained policies (``dse.tabular`` serves
    both from a table).
    """
    run_dir = Path(run_dir)
    notes: tuple[str, ...] = ()
    if executor is None and ray_address is None:  # the trainings run on this machine: fit them to its memory
        workers, task_per_seed, notes = fit_memory(settings, workers, task_per_seed, local_memory())
    manifest, storage, study_name = _resolve(run_dir, settings, storage, study_name)
    cache_dir = Path(cache) if cache else run_dir / "cache"
    _check_writable(run_dir, "run folder")
    _check_writable(cache_dir, "policy cache")
    study, existing = _open(run_dir, settings, storage, study_name)
    lease = DriverLease(study, study_name)
    lease.acquire()
    try:
        if existing is None:
            study.set_user_attr(SETTINGS_ATTR, settings.to_dict())
            for candidate in startup_candidates(settings):
                study.enqueue_trial(candidate.params())
        record_command(run_dir, manifest, settings.to_dict(), storage, study_name, budget, command)
        finished = _recover(study, settings, log)
        if finished >= budget:
            log(f"budget of {budget} candidates already reached ({finished} trained); raise --budget to continue")
            return
        log(plan_study(settings, budget, finished, workers, _baseline_cached(settings, cache_dir), task_per_seed,
                       notes).describe())
        if executor is None:
            # with neither interval a training still saves where it pauses at a rung
            checkpoints = CheckpointSettings(cache_dir / "resume", checkpoint_steps, checkpoint_minutes * 60 or None)
            executor = RayExecutor(ray_address, workers, cpus_per_task, threads, task_per_seed, checkpoints,
                                   seed_bytes=memory_of(settings, task_per_seed)[0])
        driver = Driver(run_dir, settings, study, executor, cache_dir, log=log, lease=lease, designs=designs)
        driver.baseline()
        log(f"study {study_name}: {finished}/{budget} trials finished; {settings.strategy} strategy, "
            f"early stopping {settings.early_stop}, {workers} workers")
        driver.run(budget)
    finally:
        lease.release()
