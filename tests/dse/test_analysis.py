"""dse sweep / noise / curves / table at tiny fidelity: every number checked against the stored trials and run folders."""

import json
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest

from dse.cli import main
from dse.reports.analysis import NOISE_SEED
from dse.reports.run_data import load_run
from dse.storage.run_folder import open_run_study
from dse.study.deploy import INTEGER_FORWARD
from tests.dse.tiny import TINY_STUDY
from training import FLOAT_FORWARD, evaluation_file

# the tiny study with learning-curve points, and fixed sweeps share one cache with it
CURVED = [*TINY_STUDY, "--eval-every", "300", "--eval-episodes", "2"]
SWEEP = [arg for arg in CURVED if arg not in ("--space-widths", "16,32", "--space-core-bits", "2..3", "--space-input-bits", "6,8")]


pytestmark = pytest.mark.usefixtures("ray_session")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("analysis")
    cache = str(root / "cache")
    assert main(["run", *CURVED, "--strategy", "staged", "--budget", "20", "--out", str(root / "staged"), "--cache", cache]) == 0
    return root


def sweep(root: Path, name: str, *args: str) -> Path:
    out = root / name
    assert main(["sweep", *SWEEP, *args, "--out", str(out), "--cache", str(root / "cache")]) == 0
    return out


def trials(run: Path) -> list[optuna.trial.FrozenTrial]:
    return open_run_study(run).trials


def test_core_sweep_reuses_the_staged_trainings_and_reports_them(root):
    out = sweep(root, "sweep-core", "--scope", "core", "--bits", "2..3", "--width", "32")
    stored = trials(out)
    assert [(t.params["core_bits"], t.params["input_bits"], t.params["width"]) for t in stored] == [(2, 8, 32), (3, 8, 32)]
    assert all(t.user_attrs["new_trainings"] == 0 for t in stored)  # the staged rule's stage 1 trained them
    table = pd.read_csv(out / "reports" / "sweep.csv")
    assert list(table["x"]) == [2, 3]
    for trial, row in zip(stored, table.itertuples()):
        assert row.mean_return == pytest.approx(trial.values[0])
        assert row.return_std == pytest.approx(np.std(trial.user_attrs["seed_returns"], ddof=1))
        assert row.parity == trial.user_attrs["parity_feasible"]
    band = json.loads((out / "baseline.json").read_text())
    assert table["fp32_mean"].iloc[0] == pytest.approx(band["mean"])
    assert "FP32 mean +- std" in (out / "reports" / "sweep.html").read_text()


def test_width_sweep(root):
    out = sweep(root, "sweep-width", "--widths", "32,16", "--core-bits", "2")
    table = pd.read_csv(out / "reports" / "sweep.csv")
    assert list(table["x"]) == [32, 16] and list(table["label"]) == ["w32-c2-i8-o8", "w16-c2-i8-o8"]


def test_noise_evaluates_once_and_reports_means_of_the_stored_episodes(root, capsys):
    run = root / "staged"
    assert main(["noise", str(run), "--sigma", "0,0.3", "--episodes", "2", "--workers", "2"]) == 0
    assert "evaluating 8 (model, sigma) pairs" in capsys.readouterr().out
    table = pd.read_csv(run / "reports" / "noise.csv")
    pick = load_run(run).staged_pick
    assert len(table) == 2 * 2 * 2 and set(table["sigma"]) == {0.0, 0.3}
    for row in table.itertuples():
        stored = json.loads((Path(row.policy_dir) / evaluation_file(2, NOISE_SEED, row.sigma)).read_text())
        assert stored["noise_sigma"] == row.sigma and stored["episodes"] == 2 and stored["seed"] == [NOISE_SEED, row.model]
        assert row.mean_return == pytest.approx(np.mean(stored["returns"]))
        if row.kind == "quantized":
            assert f"w{pick.width}-c{pick.core_bits}-i{pick.input_bits}-o{pick.output_bits}-s" in row.policy_dir
            assert stored["forward"] == INTEGER_FORWARD, "the deployed integer network under noise"
        else:
            assert stored["forward"] == FLOAT_FORWARD
    summary = pd.read_csv(run / "reports" / "noise-summary.csv")
    quantized = summary[(summary["kind"] == "quantized") & (summary["sigma"] == 0.3)].iloc[0]
    assert quantized["mean"] == pytest.approx(table[(table["kind"] == "quantized") & (table["sigma"] == 0.3)]["mean_return"].mean())
    assert main(["noise", str(run), "--sigma", "0,0.3", "--episodes", "2", "--workers", "2"]) == 0
    assert "evaluating" not in capsys.readouterr().out


def test_curves_average_the_seeds_curve_files(root):
    run = root / "staged"
    assert main(["curves", str(run)]) == 0
    table = pd.read_csv(run / "reports" / "curves.csv")
    summary = pd.read_csv(run / "reports" / "curves-summary.csv")
    assert set(table["kind"]) == {"quantized", "fp32"} and sorted(set(table["env_step"])) == [300, 600]
    for row in summary.itertuples():
        points = table[(table["kind"] == row.kind) & (table["env_step"] == row.env_step)]["mean_return"]
        assert row.models == 2 and row.mean == pytest.approx(points.mean()) and row.std == pytest.approx(np.std(points, ddof=1))
    study = load_run(run)
    pick_dirs = list(study.scored_row(study.staged_pick)["policy_dirs"])
    assert set(table.loc[table["kind"] == "quantized", "policy_dir"]) == set(pick_dirs)
    assert set(table.loc[table["kind"] == "fp32", "policy_dir"]) == set(study.baseline["policy_dirs"])
    for row in table.itertuples():
        curve = pd.read_csv(Path(row.policy_dir) / "curve.csv").set_index("env_step")
        assert row.mean_return == curve.loc[row.env_step, "return_mean"], "each point is its model's curve point"


def test_table_selected_and_reference_designs(root, capsys):
    reference = sweep(root, "reference", "--scope", "core", "--bits", "4", "--width", "256")
    out = root / "table"
    assert main(["table", str(root / "staged"), str(reference), "--out", str(out)]) == 0
    table = pd.read_csv(out / "table.csv")
    assert list(table["design"]) == ["selected (staged pick)", "reference (w256, 4-bit core, 8-bit in/out)"]
    pick = load_run(root / "staged").staged_pick
    selected, ref = table.iloc[0], table.iloc[1]
    assert (selected["width"], selected["core_bits"], selected["input_bits"]) == (pick.width, pick.core_bits, pick.input_bits)
    ref_trial = trials(reference)[0]
    assert (ref["width"], ref["core_bits"], ref["input_bits"], ref["output_bits"]) == (256, 4, 8, 8)
    assert ref["luts"] == ref_trial.values[1] and ref["latency_us"] == pytest.approx(ref_trial.values[2] * 1e6)
    assert ref["energy_nJ"] == pytest.approx(ref_trial.values[3] * 1e9) and ref["bram36"] == ref_trial.user_attrs["bram36"]
    assert int(ref["ffs"]) == ref_trial.user_attrs["ffs"] > 0  # the model estimates FFs
    assert "sweep, no selection" in (out / "table.md").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sweep", *SWEEP, "--scope", "core"], "--scope needs --bits"),
        (["sweep", *SWEEP, "--bits", "2..4"], "--bits needs --scope"),
        (["sweep", *SWEEP, "--width", "64"], "a width sweep needs at least two widths"),
        (["sweep", *SWEEP, "--scope", "core", "--bits", "2..4", "--widths", "16,32"], "--scope sweeps bits at one width"),
        (["sweep", *SWEEP, "--scope", "input", "--bits", "1..3"], "input-bits 1 is outside the allowed 2..8"),
        (["noise", "nowhere", "--sigma", "0,x"], "sigma list '0,x' is invalid"),
        (["noise", "nowhere", "--sigma", "-1"], "sigma list '-1' is invalid"),
        (["curves", "nowhere"], "nowhere is not a dse study folder"),
        (["table", "nowhere"], "nowhere is not a dse study folder"),
    ],
)
def test_bad_input_is_one_line(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_noise_on_a_trial_that_is_not_there(root, capsys):
    assert main(["noise", str(root / "staged"), "--trial", "99"]) == 2
    assert "trial 99 of" in capsys.readouterr().err
