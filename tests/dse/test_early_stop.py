"""Early stopping inside a study: the training task, the cache, and the trials it records."""

import dataclasses
import json

import optuna

from dse.cli import main
from dse.storage.run_folder import open_run_study
from dse.study.tasks import cached_outcome, install_runs, run_dir_for, train_task
from objectives.early_stop import EarlyStopper, Fp32Curve, early_stop_rule
from tests.conftest import tiny_spec
from tests.dse.tiny import TINY_STUDY
from training import PolicyConfig

# FP32 "learned" a million per checkpoint: every real candidate is far behind it.
UNREACHABLE = Fp32Curve((200, 400, 600), (1e6, 2e6, 3e6))


def test_a_stopped_training_is_cached_only_for_its_own_rule(tmp_path):
    spec = tiny_spec(PolicyConfig(width=8, core_bits=2, input_bits=4), total_steps=600, eval_every=200)
    specs = [spec.to_dict()]
    early_stop = {"mode": "aggressive", "reference": UNREACHABLE.to_dict()}
    [outcome] = install_runs([spec], train_task(specs, threads=1, early_stop=early_stop), tmp_path)
    assert outcome.trained and outcome.env_steps == 200, "stopped at the first checkpoint past 20% of 600 steps"
    assert outcome.stopped_early["rule"] == "aggressive" and outcome.stopped_early["env_step"] == 200
    identity = EarlyStopper(early_stop_rule("aggressive"), UNREACHABLE, 600).identity
    assert outcome.stopped_early["identity"] == identity
    assert cached_outcome(spec, tmp_path, identity) == dataclasses.replace(outcome, trained=False, node=None)
    another_fp32_curve = Fp32Curve((200, 400, 600), (1e6, 2e6, 4e6))
    assert cached_outcome(spec, tmp_path, EarlyStopper(early_stop_rule("aggressive"), another_fp32_curve, 600).identity) is None
    assert cached_outcome(spec, tmp_path, EarlyStopper(early_stop_rule("conservative"), UNREACHABLE, 600).identity) is None
    assert cached_outcome(spec, tmp_path, None) is None
    [full] = install_runs([spec], train_task(specs, threads=1), tmp_path)
    assert full.trained and full.env_steps == 600 and full.stopped_early is None
    complete = json.loads((run_dir_for(spec, tmp_path) / "complete.json").read_text())
    assert "stopped_early" not in complete
    assert cached_outcome(spec, tmp_path, identity) is not None, "a full run stands for any rule"
    assert cached_outcome(spec, tmp_path, None) is not None


def test_a_study_records_stopped_candidates_as_infeasible_with_the_compute_saved(tmp_path, monkeypatch, capsys, ray_session):
    monkeypatch.setattr("dse.study.baseline.Fp32Curve.from_run_dirs", lambda run_dirs, parity_lower=None: UNREACHABLE)
    run = tmp_path / "study"
    args = ["run", *TINY_STUDY, "--eval-every", "200", "--early-stop", "aggressive", "--budget", "2", "--out", str(run)]
    assert main(args) == 0
    assert "stopped early at step 200" in capsys.readouterr().out
    study = open_run_study(run)
    trials = [trial for trial in study.trials if trial.state == optuna.trial.TrialState.COMPLETE]
    assert len(trials) == 2
    for trial in trials:
        attrs = trial.user_attrs
        assert attrs["stopped_at_step"] == 200 and attrs["stopped_early"].startswith("aggressive rule:")
        assert attrs["train_env_steps"] == 2 * 200
        assert attrs["env_steps_saved"] == 2 * (600 - 200)
        assert not attrs["feasible"] and not attrs["parity_feasible"]
        assert trial.constraints["trained"] == 1.0, "Optuna sees the trained constraint violated"
        assert trial.values[1] > 0 and attrs["latency_cycles"] > 0, "stopped candidates still get their hardware"
    assert study.best_trials == [], "Optuna's front holds feasible trials only"
    summary = (run / "reports" / "summary.md").read_text()
    assert f"{4 * 200:,} env steps" in summary
