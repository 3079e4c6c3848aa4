import optuna
import pytest

from dse.storage.settings import StudyInputError, StudySettings
from dse.storage.studies import open_study
from dse.strategies.samplers import make_sampler
from objectives import OBJECTIVES
from search_spaces import SearchSpace
from synthesis.devices import HARDWARE_MODEL_VERSION
from training import SACConfig, TrainSpec


def settings(**changes) -> StudySettings:
    values = dict(
        env_id="Pendulum-v1", strategy="search", sampler="random", sampler_seed=0, seeds=2,
        template=TrainSpec("Pendulum-v1", hyper=SACConfig(learning_starts=100), total_steps=200),
        space=SearchSpace(), synthesis={}, baseline_width=32,
    )
    values.update(changes)
    return StudySettings(**values)


def draws(study: optuna.Study, space: SearchSpace, count: int) -> list:
    candidates = []
    for _ in range(count):
        trial = study.ask()
        candidates.append(space.suggest(trial))
        study.tell(trial, [0.0, 1.0, 1.0, 1.0])
    return candidates


@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_a_resumed_study_does_not_replay_its_first_draws(tmp_path, sampler):
    chosen = settings(sampler=sampler)
    url = f"sqlite:///{tmp_path / 'study.db'}"
    first = draws(open_study(url, "s", make_sampler(chosen)), chosen.space, 4)
    resumed = open_study(url, "s")
    resumed.sampler = make_sampler(chosen, trials_so_far=len(resumed.trials))
    assert draws(resumed, chosen.space, 4) != first
    again = open_study(f"sqlite:///{tmp_path / 'fresh.db'}", "s", make_sampler(chosen))
    assert draws(again, chosen.space, 4) == first  # a fresh study with the same seed is reproducible


def test_settings_round_trip_and_differences():
    chosen = settings()
    assert StudySettings.from_dict(chosen.to_dict()) == chosen
    other = settings(seeds=3, space=SearchSpace(widths=(16,)))
    assert chosen.differences(other) == ["seeds: 2 -> 3", "space.widths: [16, 32, 64, 128, 256] -> [16]"]
    # what neither study's strategy uses does not count: a staged study stored with a sampler seed resumes without it
    assert settings(strategy="staged", sampler_seed=3).differences(settings(strategy="staged")) == []
    assert settings(fidelity_factor=2).differences(settings()) == [], "no rungs: the factor means nothing"
    assert settings(sampler_seed=3).differences(settings()) == ["sampler_seed: 3 -> 0"]
    assert settings(strategy="staged").differences(settings()) == ["strategy: 'staged' -> 'search'"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"strategy": "greedy"}, "strategy 'greedy' is unknown"), ({"sampler": "cmaes"}, "sampler 'cmaes' is unknown"),
     ({"seeds": 0}, "seeds 0 is invalid"), ({"strategy": "sweep"}, "a sweep study needs its candidates")],
)
def test_bad_settings(changes, message):
    with pytest.raises(StudyInputError, match=message):
        settings(**changes)


def test_a_run_folder_keeps_optunas_journal_file_and_still_opens_an_older_relational_study_db(tmp_path):
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    from dse.storage.studies import storage_url

    fresh, older = tmp_path / "fresh", tmp_path / "older"
    fresh.mkdir()
    older.mkdir()
    assert storage_url(fresh, None) == str((fresh / "study.log").resolve())
    optuna.create_study(storage=f"sqlite:///{older / 'study.db'}", study_name="old").set_user_attr("made", "before")
    assert storage_url(older, None) == f"sqlite:///{(older / 'study.db').resolve()}"
    assert open_study(storage_url(older, None), "old", create=False).user_attrs["made"] == "before"
    study = open_study(storage_url(fresh, None), "s", make_sampler(settings()))
    draws(study, SearchSpace(), 3)
    # Optuna's own API, as its docs open a journal file, in another storage object as another process would
    again = optuna.load_study(study_name="s", storage=JournalStorage(JournalFileBackend(str(fresh / "study.log"))))
    assert [trial.state for trial in again.trials] == [optuna.trial.TrialState.COMPLETE] * 3
    assert [trial.params for trial in again.trials] == [trial.params for trial in study.trials]
    assert again.metric_names == [objective.title for objective in OBJECTIVES] == ["mean return", "LUTs", "latency (s)",
                                                                                  "energy per action (J)"]
    assert not (fresh / "study.db").exists()


def test_a_run_folder_of_an_older_dse_moves_its_sqlite_journal_to_a_journal_file(tmp_path, capsys):
    """The previous dse kept Optuna's journal records in a SQLite table (study.db) that Optuna's tools cannot read."""
    import json
    import sqlite3

    from dse.storage.studies import storage_url

    source = tmp_path / "records.log"
    made = optuna.create_study(storage=optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(source))),
                               study_name="old", directions=["maximize", "minimize", "minimize", "minimize"])
    draws(made, SearchSpace(), 2)
    made.set_user_attr("made", "before")
    logs = [json.loads(line) for line in source.read_text().splitlines()]
    run = tmp_path / "run"
    run.mkdir()
    with sqlite3.connect(run / "study.db") as connection:
        connection.execute("CREATE TABLE journal (number INTEGER PRIMARY KEY, log TEXT NOT NULL)")
        connection.executemany("INSERT INTO journal (log) VALUES (?)", [(json.dumps(log),) for log in logs])
    url = storage_url(run, None)
    assert url == str((run / "study.log").resolve())
    assert "moved to Optuna's journal file" in capsys.readouterr().err
    assert (run / "study.db.bak").exists() and not (run / "study.db").exists()
    study = open_study(url, "old", create=False)
    assert study.user_attrs["made"] == "before"
    assert [trial.params for trial in study.trials] == [trial.params for trial in made.trials]
    assert storage_url(run, None) == url and capsys.readouterr().err == "", "moved once"


def test_a_journal_in_a_missing_folder_is_a_one_line_error(tmp_path):
    with pytest.raises(StudyInputError, match=r"storage '.*/no/such/study.log' cannot be opened: "):
        open_study(f"{tmp_path}/no/such/study.log", "s")


def test_a_study_of_another_dse_version_is_refused(tmp_path):
    """Trials trained, evaluated or estimated by another version would share a front with new ones."""
    import json

    from dse.study.run import plan

    current = settings()
    made_before = {k: v for k, v in current.to_dict().items() if k not in ("results_version", "hardware_model_version")}
    assert StudySettings.from_dict(made_before).results_version == 1
    (tmp_path / "run.json").write_text(json.dumps({"settings": made_before, "storage": None, "study_name": "old"}))
    with pytest.raises(StudyInputError, match=r"holds a study scored by another version of dse \(results version 1, "
                                              rf"hardware model 1; this one: 2, {HARDWARE_MODEL_VERSION}\): its trials are not comparable"):
        plan(tmp_path, current, budget=4)
    # made under the FINN-estimate hardware model alone, or the model before this one: refused the same way, naming both
    for older in (1, HARDWARE_MODEL_VERSION - 1):
        made_under = current.to_dict() | {"hardware_model_version": older}
        (tmp_path / "run.json").write_text(json.dumps({"settings": made_under, "storage": None, "study_name": "old"}))
        with pytest.raises(StudyInputError, match=rf"\(results version 2, hardware model {older}; this one: 2, {HARDWARE_MODEL_VERSION}\)"):
            plan(tmp_path, current, budget=4)


def test_a_study_db_that_is_no_database_is_a_one_line_error(tmp_path):
    from dse.storage.studies import storage_url

    (tmp_path / "study.db").write_bytes(b"not a database at all" * 100)
    with pytest.raises(StudyInputError, match=r"study.db cannot be opened as a study: file is not a database"):
        storage_url(tmp_path, None)


def test_a_study_made_when_folding_was_an_axis_is_refused_by_run_and_read_by_report(tmp_path):
    """Search version 1: folding among the parameters and the space, one design per trial, no designs attribute."""
    import json

    from dse.reports.run_data import load_run
    from dse.storage.settings import SETTINGS_ATTR
    from dse.storage.studies import storage_url
    from dse.study.run import plan

    old = settings().to_dict()
    old.pop("search_version")
    old.pop("startup")
    old["space"]["foldings"] = ["1e5", "fit"]
    (tmp_path / "run.json").write_text(json.dumps({"settings": old, "storage": None, "study_name": "old"}))
    study = open_study(storage_url(tmp_path, None), "old")
    study.set_user_attr(SETTINGS_ATTR, old)
    for width, luts, folding in ((16, 500.0, "1e5"), (32, 900.0, "fit")):
        study.enqueue_trial({"width": width, "core_bits": 3, "input_bits": 6, "output_bits": 8, "folding": folding})
        trial = study.ask()
        trial.suggest_categorical("width", [16, 32])
        trial.suggest_int("core_bits", 3, 3)
        trial.suggest_int("input_bits", 6, 6)
        trial.suggest_int("output_bits", 8, 8)
        trial.suggest_categorical("folding", ["1e5", "fit"])
        for name, value in (("feasible", True), ("parity_margin", 5.0), ("fits", True), ("design_target_fps", 1e5),
                            ("new_trainings", 2), ("train_env_steps", 400), ("folding_config", {"MVAU_0": {"PE": 1, "SIMD": 2}})):
            trial.set_user_attr(name, value)
        study.tell(trial, [100.0 + width, luts, 1e-6, 1e-7])
    with pytest.raises(StudyInputError, match=r"holds a study made when folding was a search axis \(search version 1; this "
                                              r"dse: 2\).*dse report still reads it"):
        plan(tmp_path, settings(), budget=4)
    run = load_run(tmp_path)
    assert run.settings.search_version == 1 and run.settings.space.widths == settings().space.widths
    assert len(run.designs) == 2 and run.designs["folding"].tolist() == [[[1, 2]], [[1, 2]]]
    assert run.front["width"].tolist() == [16, 32], "neither dominates the other: both on the front"
    assert run.trainings == 4 and run.env_steps == 800


def test_a_journal_whose_last_record_was_cut_drops_it_with_a_notice_and_takes_appends_again(tmp_path, capsys):
    """A driver killed mid-append leaves half a line; Optuna reads past it, but its next append would continue it."""
    from dse.storage.journal import drop_cut_record

    path = tmp_path / "study.log"
    study = open_study(str(path), "cut")
    for value in range(3):
        trial = study.ask()
        study.tell(trial, [float(value), 1.0, 1.0, 1.0])
    whole = path.read_bytes()
    path.write_bytes(whole[:-25])  # the last record, the third trial's result, cut short
    kept = whole[:-25].rfind(b"\n") + 1
    assert drop_cut_record(path) == len(whole) - 25 - kept and path.read_bytes() == whole[:kept]
    notice = capsys.readouterr().err
    assert notice.count("\n") == 1 and "was cut short" in notice and "operation 6" in notice
    study = open_study(str(path), "cut")
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 2 + [optuna.trial.TrialState.RUNNING]
    study.tell(study.trials[2].number, [2.0, 1.0, 1.0, 1.0])
    assert [t.values[0] for t in open_study(str(path), "cut").trials] == [0.0, 1.0, 2.0]
    assert drop_cut_record(path) == 0 and capsys.readouterr().err == ""


def test_memory_is_planned_a_task_per_seed_where_seeds_do_not_fit_and_a_refusal_where_one_does_not():
    """Humanoid at the paper's defaults: 376-dimensional observations stored once, 1M rows a seed, 10 seeds a task."""
    from dse.study.plan import fit_memory, memory_of
    from training.memory import TASK_OVERHEAD_BYTES

    humanoid = settings(env_id="Humanoid-v4", seeds=10, template=TrainSpec("Humanoid-v4", total_steps=1_000_000))
    seed_bytes, task_bytes = memory_of(humanoid, task_per_seed=False)
    assert seed_bytes == 1_000_000 * (4 * (376 + 17 + 2) + 1) and task_bytes == TASK_OVERHEAD_BYTES + 10 * seed_bytes
    gib = 2**30
    assert fit_memory(humanoid, 1, False, 24 * gib) == (1, False, ())
    workers, split, notes = fit_memory(humanoid, 2, False, 24 * gib)
    assert (workers, split) == (1, False) and "2 workers' tasks need about 30 GB" in notes[0]
    workers, split, notes = fit_memory(humanoid, 5, False, 8 * gib)
    assert split and workers == 8 * gib // (TASK_OVERHEAD_BYTES + seed_bytes) and len(notes) == 2
    assert "each seed trains in a task of its own" in notes[0]
    with pytest.raises(StudyInputError, match=r"one training seed needs about 2 GB .* lower --buffer-size"):
        fit_memory(humanoid, 1, False, 1 * gib)


def test_a_proposer_lets_a_trial_waiting_to_be_redone_be_asked_before_its_own_pick(tmp_path):
    """Optuna's ask takes the oldest waiting trial: a pick enqueued behind a trial to redo would be asked a turn late,
    after the driver had admitted the redo as if it were the pick (a repeat, and a waiting trial left over)."""
    from dse.strategies.proposers import RandomProposer

    study = open_study(str(tmp_path / "study.log"), "s")
    proposer = RandomProposer(settings(strategy="random"), study)
    assert proposer.chooses()
    study.enqueue_trial(SearchSpace().candidates()[0].params())  # what a stopped driver leaves to redo
    assert not proposer.chooses()
    study.ask()
    assert proposer.chooses()
