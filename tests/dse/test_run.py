"""dse run / report / compare on real parts: a local Ray (2 workers), Optuna's journal file, real trainings, FINN estimates."""

import json
from pathlib import Path

import numpy as np
import optuna
import pytest

from dse.cli import main
from dse.reports.compare import comparison
from dse.reports.run_data import load_run
from dse.storage.run_folder import open_run_study
from dse.storage.studies import stored_settings
from dse.storage.trials import candidate_of
from dse.strategies.staged import StagedRule
from tests.dse.tiny import TINY_STUDY, trained


pytestmark = pytest.mark.usefixtures("ray_session")


def load(run: Path) -> optuna.Study:
    return open_run_study(run)



def eval_mean(run_dir: str) -> float:
    return float(np.mean(json.loads((Path(run_dir) / "eval.json").read_text())["returns"]))


def test_search_study_reads_back_with_optuna(studies):
    study = load(studies / "search")
    trials = trained(study)
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 4
    assert len({candidate_of(t) for t in trials}) == 4, "no candidate trained twice"
    start = StagedRule(stored_settings(study).space).stages()[0]
    assert [candidate_of(t) for t in trials[:len(start)]] == start, "the search opens with the staged rule's first sweep"
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE", "MINIMIZE", "MINIMIZE"]
    assert stored_settings(study).env_id == "InvertedPendulum-v4"
    band = json.loads((studies / "search" / "baseline.json").read_text())
    assert band["mean"] == pytest.approx(np.mean([eval_mean(d) for d in band["policy_dirs"]]))
    for trial in trials:
        attrs = trial.user_attrs
        assert set(trial.constraints) == {"parity", "fits", "trained"} and trial.constraints["trained"] == 0.0
        assert trial.constraints["parity"] == pytest.approx(band["mean"] - band["std"] - trial.values[0])
        assert attrs["feasible"] == (attrs["parity_feasible"] and attrs["fits"])
        # the stored return is the mean over seeds of the cached runs' evaluations
        assert trial.values[0] == pytest.approx(np.mean(attrs["seed_returns"]))
        assert attrs["seed_returns"][attrs["deployed_seed"]] == pytest.approx(eval_mean(attrs["policy_dir"]))
        assert trial.values[1] > 0 and trial.values[2] > 0 and trial.values[3] > 0
        # every distinct folding is a design; Optuna is told the paper's choice: the highest target that fits
        designs = attrs["designs"]
        assert len({json.dumps(d["folding"]) for d in designs}) == len(designs) > 1
        fitting = [d for d in designs if d["fits"]]
        chosen = max(fitting, key=lambda d: d["target_fps"]) if fitting else designs[0]
        assert attrs["design_target_fps"] == chosen["target_fps"]
        assert [chosen["luts"], chosen["latency_s"], chosen["energy_j"]] == pytest.approx(trial.values[1:])
        assert all(d["feasible"] == (attrs["parity_feasible"] and d["fits"]) for d in designs)


def test_a_candidates_seeds_train_together_by_default(studies):
    together = {
        path.parent.name: json.loads(path.read_text())["seeds_trained_together"]
        for path in (studies / "cache" / "train").glob("*/complete.json")
    }
    candidates = [count for name, count in together.items() if "fp32" not in name]
    baseline = [count for name, count in together.items() if "fp32" in name]
    assert candidates and all(count == 2 for count in candidates), "a candidate's 2 seeds in one task"
    assert baseline == [1, 1], "the baseline, trained alone, takes one task per worker (2)"


def test_staged_strategy_asks_the_rules_sweeps(studies):
    study = load(studies / "staged")
    trials = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    verdicts = {candidate_of(t): t.user_attrs["parity_feasible"] for t in trials}
    assert all(len(t.user_attrs["designs"]) > 1 for t in trials), "the rule's candidates are mapped at every target too"
    rule = StagedRule(stored_settings(study).space)
    plan = rule.plan(verdicts)
    assert plan.pick is not None and study.user_attrs["staged_pick"] == plan.pick.params()
    stage1, stage2, stage3 = rule.stages(plan.pick.core_bits, plan.pick.width)
    assert set(verdicts) == set(stage1) | set(stage2) | set(stage3)
    assert len(trials) == len(verdicts)  # no candidate asked twice
    # the published rule runs without early stopping unless asked; a search stops conservatively by default
    assert stored_settings(study).early_stop == "off" and stored_settings(load(studies / "search")).early_stop == "conservative"
    assert "Early stopping: off (the staged rule as published)." in (studies / "staged" / "reports" / "summary.md").read_text()


def test_rerun_reaches_nothing_new_and_a_larger_budget_continues(studies, capsys):
    run = studies / "search"
    before = {t.number: (t.params, t.values) for t in load(run).trials}
    args = ["run", *TINY_STUDY, "--out", str(run), "--cache", str(studies / "cache")]
    assert main([*args, "--budget", "4"]) == 0
    assert "budget of 4 candidates already reached" in capsys.readouterr().out
    assert main([*args, "--budget", "5"]) == 0
    after = load(run).trials
    assert len(trained(load(run))) == 5 and {t.number: (t.params, t.values) for t in after[:len(before)]} == before
    out = capsys.readouterr().out
    assert "FP32 band" in out and "FP32 baseline: 2 of 2 seeds reused from the cache" in out
    assert "plan: 1 candidates x 2 seeds = up to 2 trainings (+0 FP32 baseline), 1,200 env steps" in out
    reused = trained(load(run))[4].user_attrs["new_trainings"] == 0
    assert f"trainings reused: {2 if reused else 0} from the cache" in out


def digest(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (["--env", "Pendulum-v1"], "holds a study of InvertedPendulum-v4, not Pendulum-v1"),
        (["--steps", "700"], "holds a study with other settings (template.total_steps: 600 -> 700)"),
        (["--storage", "sqlite:///elsewhere.db"], "keeps its study in study.log"),
    ],
)
def test_a_run_folder_of_another_study_is_refused_untouched(studies, capsys, change, message):
    run = studies / "search"
    before = digest(run / "study.log")
    args = ["run", *TINY_STUDY, "--budget", "9", "--out", str(run), *change]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert digest(run / "study.log") == before


@pytest.mark.parametrize("sampler", ["tpe", "nsga2", "gp"])
def test_other_samplers_and_an_explicit_storage(studies, sampler):
    db = studies / f"{sampler}.db"
    run = studies / sampler
    args = ["run", *TINY_STUDY, "--sampler", sampler, "--space-widths", "16", "--space-core-bits", "2", "--budget", "2",
            "--storage", f"sqlite:///{db}", "--study-name", f"{sampler}-study", "--out", str(run), "--task-per-seed"]
    assert main(args) == 0
    study = optuna.load_study(study_name=f"{sampler}-study", storage=f"sqlite:///{db}")
    assert [t.state for t in trained(study)] == [optuna.trial.TrialState.COMPLETE] * 2, "both candidates, once each"
    runs = [json.loads(path.read_text()) for path in (run / "cache" / "train").glob("*/complete.json")]
    assert runs and all(complete["seeds_trained_together"] == 1 for complete in runs), "one task per seed"
    assert not (run / "study.log").exists()
    assert (run / "reports" / "trials.csv").read_text().count("\n") == len(study.trials) + 1


def test_a_repeat_ask_trains_nothing_and_spends_no_budget(studies, capsys):
    """A one-candidate space, two workers: the second ask is the candidate already training; it waits on that
    training, is told the same, and the search stops asking once every candidate of the space is known."""
    run = studies / "duplicate"
    args = ["run", *TINY_STUDY, "--sampler", "random", "--space-widths", "8", "--space-core-bits", "4", "--space-input-bits", "4",
            "--budget", "2", "--out", str(run), "--cache", str(studies / "cache")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "trainings reused: 0 from the cache, 2 shared with another trial of this run" in out
    assert "1 repeats" in out and "search stops asking: every candidate of the space is known" in out
    trials = load(run).trials
    assert len(trials) == 2 and trials[0].params == trials[1].params and trials[1].values == trials[0].values
    assert trials[1].user_attrs["repeat_of"] == 0 and trials[1].user_attrs["trainings"] == 0
    assert sorted(t.user_attrs["new_trainings"] for t in trials) == [0, 2]
    assert sum(t.user_attrs["train_env_steps"] for t in trials) == 2 * 600
    assert len(list((studies / "cache" / "train").glob("w8-*"))) == 2, "one training per seed"
    row = comparison([load_run(run)]).loc[0]
    assert row["trainings"] == 2 and row["candidates trained"] == 1
    assert "repeated asks answered from the study 1" in (run / "reports" / "summary.md").read_text()
    # asked again, it is answered from the study: nothing new is trained
    assert main([*args, "--budget", "3"]) == 0
    assert all("repeat_of" in t.user_attrs for t in load(run).trials[2:]) and len(load(run).trials) > 2
    assert len(list((studies / "cache" / "train").glob("w8-*"))) == 2


def test_the_random_strategy_draws_without_replacement_and_stops_when_the_space_is_known(studies, capsys):
    run = studies / "random"
    args = ["run", *TINY_STUDY, "--strategy", "random", "--space-widths", "16", "--space-core-bits", "2", "--budget", "5",
            "--out", str(run), "--cache", str(studies / "cache")]
    assert main(args) == 0
    assert "random strategy stops asking: every candidate of the space is known (2 candidates trained)" in capsys.readouterr().out
    trials = load(run).trials
    assert len(trials) == 2 and {candidate_of(t).input_bits for t in trials} == {6, 8}


def test_a_dry_run_prints_the_plan_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "planned"
    assert main(["run", *TINY_STUDY, "--budget", "4", "--out", str(out), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "plan: 4 candidates x 2 seeds = up to 8 trainings (+2 FP32 baseline), 6,000 env steps; about" in text
    assert "with 2 workers; memory: about 512 MB per training task (0.017 MB of replay per seed)" in text
    assert not out.exists()


def test_a_training_task_declares_its_memory_and_one_no_node_holds_is_refused_in_one_line():
    from dse.study.executor import RayExecutor
    from dse.study.tasks import TaskFailed
    from training import TrainSpec
    from training.memory import TASK_OVERHEAD_BYTES

    executor = RayExecutor(None, 1, seed_bytes=2**20)
    assert 0 < executor.task_memory(3) == TASK_OVERHEAD_BYTES + 3 * 2**20 < executor.node_memory
    too_large = RayExecutor(None, 1, seed_bytes=executor.node_memory)
    with pytest.raises(TaskFailed, match=r"^a training task of 1 seed needs about \S+ GB, more than the \S+ GB Ray "
                                         r"schedules tasks in on any node: lower --buffer-size or --seeds$"):
        too_large.submit([TrainSpec("Pendulum-v1")])
    with pytest.raises(TaskFailed, match=r"^a training task of 3 seeds needs .* \(--task-per-seed\)$"):
        too_large.submit([TrainSpec("Pendulum-v1", seed=seed) for seed in range(3)])
