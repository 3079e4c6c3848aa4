"""The policy cache hands out a trained run only when everything that made it is what the study would do."""

import json

import pytest

from dse.cli import main
from dse.study.deploy import INTEGER_FORWARD
from dse.study.tasks import cached_outcome, install_runs, run_dir_for, train_task
from tests.conftest import tiny_spec
from training import PolicyConfig, read_eval, train


@pytest.fixture
def cached(tmp_path):
    """A tiny QAT policy trained by a study's training task, in a policy cache."""
    spec = tiny_spec(PolicyConfig(width=8, core_bits=2, input_bits=4), total_steps=400, eval_every=0)
    [outcome] = install_runs([spec], train_task([spec.to_dict()], threads=1), tmp_path / "cache")
    return spec, outcome, tmp_path / "cache"


def test_an_evaluation_added_later_leaves_the_cached_run_reusable(cached, capsys):
    spec, outcome, cache = cached
    assert outcome.forward == INTEGER_FORWARD
    assert main(["eval", outcome.run_dir, "--episodes", "2"]) == 0
    again = cached_outcome(spec, cache, log=print)
    assert "damaged" not in capsys.readouterr().out
    assert again is not None and again.returns == outcome.returns, "still the training's own final evaluation"
    assert read_eval(outcome.run_dir)["returns"] == list(outcome.returns)


def test_a_run_made_otherwise_is_not_reused(cached, monkeypatch):
    import training.config

    spec, outcome, cache = cached
    assert cached_outcome(spec, cache) is not None
    # the same spec trained and evaluated with training's float forward (no deployed form): not what a study scores
    float_run = run_dir_for(spec, cache)
    train(spec, float_run, overwrite=True)
    assert read_eval(float_run)["forward"] != INTEGER_FORWARD
    assert cached_outcome(spec, cache) is None
    # a change that alters training results bumps RESULTS_VERSION: runs made before are not found
    install_runs([spec], train_task([spec.to_dict()], threads=1), cache)
    assert cached_outcome(spec, cache) is not None
    monkeypatch.setattr(training.config, "RESULTS_VERSION", training.config.RESULTS_VERSION + 1)
    assert cached_outcome(spec, cache) is None
    assert json.loads((float_run / "config.json").read_text())["key"] != spec.key()
