"""dse run / report / compare on real parts: a local Ray (2 workers), Optuna's journal file, real trainings, FINN estimates."""

import json
import socket
import subprocess
import sys
import time
import urllib.request
import wsgiref.util
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest

from dse.cli import main
from dse.reports.compare import comparison, pick_row
from dse.reports.run_data import OBJECTIVE_NAMES, load_run
from dse.storage.run_folder import open_run_study
from dse.storage.studies import make_storage, storage_url, stored_settings
from dse.storage.trials import candidate_of
from dse.strategies.staged import StagedRule
from synthesis.devices import HARDWARE_MODEL_VERSION
from tests.dse.tiny import TINY_STUDY


@pytest.fixture(scope="module", autouse=True)
def ray_session():
    yield
    import ray

    ray.shutdown()


@pytest.fixture(scope="module")
def studies(tmp_path_factory):
    """A 4-candidate TPE search and the staged rule, sharing one policy cache."""
    root = tmp_path_factory.mktemp("studies")
    cache = str(root / "cache")
    assert main(["run", *TINY_STUDY, "--budget", "4", "--out", str(root / "search"), "--cache", cache]) == 0
    assert main(["run", *TINY_STUDY, "--strategy", "staged", "--budget", "20", "--out", str(root / "staged"), "--cache", cache]) == 0
    return root


def trained(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """The trials that trained their candidate (not repeats)."""
    return [t for t in study.get_trials() if "repeat_of" not in t.user_attrs]


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


def test_report_holds_every_trial_and_every_design_and_the_front_of_all_designs(studies):
    run = studies / "search"
    assert main(["report", str(run)]) == 0
    study = load(run)
    csv = pd.read_csv(run / "reports" / "trials.csv")
    parquet = pd.read_parquet(run / "reports" / "trials.parquet")
    assert sorted(csv["number"]) == sorted(parquet["number"]) == [t.number for t in study.trials]
    for trial in trained(study):
        row = csv[csv["number"] == trial.number].iloc[0]
        assert row["mean_return"] == pytest.approx(trial.values[0]) and row["luts"] == trial.values[1]
        assert row["parity_margin"] == pytest.approx(trial.user_attrs["parity_margin"]) and row["outcome"] == "trained"
    designs = pd.read_csv(run / "reports" / "designs.csv")
    assert len(designs) == sum(len(t.user_attrs["designs"]) for t in trained(study))
    # every non-dominated feasible design of a trained candidate is on the front, and nothing else is
    feasible = designs[designs["feasible"]]
    points = feasible[OBJECTIVE_NAMES].to_numpy(dtype=float) * [-1, 1, 1, 1]
    for (_, design), point in zip(feasible.iterrows(), points):
        dominated = any(np.all(other <= point) and np.any(other < point) for other in points)
        assert design["pareto"] == (not dominated)
    assert not designs.loc[~designs["feasible"], "pareto"].any()
    assert designs.groupby("number")["pareto"].sum().max() >= 1 if len(feasible) else True
    html = (run / "reports" / "index.html").read_text()
    assert "plotly" in html and "Pareto front" in html and "https://cdn" not in html.split("<body>")[0]
    summary = (run / "reports" / "summary.md").read_text()
    assert f"Candidates trained: 4 (0 failed), feasible {int(csv.loc[csv['outcome'] == 'trained', 'feasible'].sum())}" in summary
    assert f"Pareto front {int(designs['pareto'].sum())}." in summary
    assert ("Hardware: xc7a15tfgg484-1 at 100 MHz, resources from the hardware model, vivado calibration; timing "
            "estimated from the RTL's stages") in summary
    assert f"(hardware model version {HARDWARE_MODEL_VERSION})." in summary
    # the model estimates FFs: every built design has them, and says which estimate made it
    built = csv.dropna(subset=["luts"])
    assert len(built) and (built["ffs"] > 0).all() and set(built["hardware_estimator"]) == {"model (vivado)"}
    assert summary.count("\n|") - 1 == int(designs["pareto"].sum()) + (1 if designs["pareto"].any() else -1)


def test_report_post_synth_adds_the_fronts_synthesized_designs_and_a_failing_tool_is_a_row(studies, monkeypatch):
    from synthesis import yosys

    run = studies / "search"
    front = load_run(run).front
    with monkeypatch.context() as patch:
        patch.setattr(yosys, "SCRIPT", "no_such_command\n" + yosys.SCRIPT)
        assert main(["report", str(run), "--post-synth", "--top", "1"]) == 0
    failed = pd.read_csv(run / "reports" / "post_synth.csv")
    assert main(["report", str(run), "--post-synth", "--top", "1"]) == 0
    table = pd.read_csv(run / "reports" / "post_synth.csv")
    assert "## Front after synthesis" in (run / "reports" / "summary.md").read_text()
    assert "Front after synthesis" in (run / "reports" / "index.html").read_text()
    assert len(table) == len(failed) == min(1, len(front))
    if len(front):
        best = front.sort_values("mean_return").iloc[-1]
        assert table["number"][0] == failed["number"][0] == best["number"]
        assert "yosys failed" in failed["error"][0] and "no_such_command" in failed["error"][0]
        assert table["bit_exact"][0] and table["luts"][0] > 0 and pd.isna(table["error"][0])
        # one latency: the model prices the RTL that Verilator measures
        assert table["latency_cycles"][0] == table["latency_cycles_estimate"][0]
        assert table["meets_timing"][0] and table["critical_path_ns"][0] <= 10


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


def test_compare_search_and_staged(studies, capsys):
    out = studies / "compare"
    assert main(["compare", str(studies / "search"), str(studies / "staged"), "--out", str(out)]) == 0
    table = (out / "compare.md").read_text()
    assert "| search " in table and "| staged " in table and "pick dominated by search" in table
    assert (out / "compare.html").stat().st_size > 100_000
    assert "env steps spent in training" in (out / "compare.html").read_text()
    rows = comparison([load_run(studies / "search"), load_run(studies / "staged")]).set_index("study")
    for name in ("search", "staged"):
        assert rows.loc[name, "env_steps"] == rows.loc[name, "trainings"] * 600, "each training ran its 600 steps"
        assert rows.loc[name, "trainings"] == rows.loc[name, "candidates trained"] * 2
    staged, search = load_run(studies / "staged"), load_run(studies / "search")
    assert rows.loc["staged", "staged pick"] == staged.staged_pick.label
    pick = pick_row(staged)[OBJECTIVE_NAMES].to_numpy(dtype=float)
    dominated = any(
        point[0] >= pick[0] and all(point[1:] <= pick[1:]) and (point[0] > pick[0] or any(point[1:] < pick[1:]))
        for point in search.front[OBJECTIVE_NAMES].to_numpy(dtype=float)
    )
    assert rows.loc["staged", "pick dominated by search"] == ("yes" if dominated else "no")


def test_optuna_dashboard_serves_the_study(studies):
    from optuna_dashboard import wsgi

    app = wsgi(make_storage(storage_url(studies / "search", None)))

    def get(path: str) -> dict:
        environ = {"PATH_INFO": path, "REQUEST_METHOD": "GET"}
        wsgiref.util.setup_testing_defaults(environ)
        statuses = []
        body = b"".join(app(environ, lambda status, headers, *rest: statuses.append(status)))
        assert statuses[0].startswith("200")
        return json.loads(body)

    summaries = get("/api/studies")["study_summaries"]
    assert [summary["study_name"] for summary in summaries] == ["search"]
    detail = get(f"/api/studies/{summaries[0]['study_id']}")
    assert len(detail["trials"]) == len(load(studies / "search").trials)
    assert {p["name"] for p in detail["trials"][0]["params"]} == {"width", "core_bits", "input_bits", "output_bits"}


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


def test_compare_of_studies_sharing_a_cache_counts_each_studys_own_trainings(studies):
    """The staged rule run again on the same cache trains nothing, yet is charged the trainings it used."""
    again = studies / "staged-again"
    args = ["run", *TINY_STUDY, "--strategy", "staged", "--budget", "20", "--out", str(again), "--cache", str(studies / "cache")]
    assert main(args) == 0
    rows = comparison([load_run(studies / "staged"), load_run(again)]).set_index("study")
    assert rows.loc["staged-again", "trained here"] == 0
    assert rows.loc["staged-again", "trainings"] == rows.loc["staged", "trainings"] == rows.loc["staged", "candidates trained"] * 2
    assert rows.loc["staged-again", "env_steps"] == rows.loc["staged", "env_steps"] > 0
    assert rows.loc["staged-again", "hypervolume"] == pytest.approx(rows.loc["staged", "hypervolume"])


def test_a_dry_run_prints_the_plan_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "planned"
    assert main(["run", *TINY_STUDY, "--budget", "4", "--out", str(out), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "plan: 4 candidates x 2 seeds = up to 8 trainings (+2 FP32 baseline), 6,000 env steps; about" in text
    assert "with 2 workers" in text and not out.exists()


def test_reading_a_study_loads_neither_torch_nor_finn(studies):
    check = (
        "import sys\n"
        "from dse.cli import main\n"
        "try:\n    code = main(sys.argv[1:])\nexcept SystemExit as exit:\n    code = exit.code\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'finn', 'ray'))\n"
        "assert code == 0 and not heavy, (code, heavy[:5])\n"
    )
    search, staged = str(studies / "search"), str(studies / "staged")
    for args in (["--help"], ["report", search], ["compare", search, staged, "--out", str(studies / "light")],
                 ["table", staged, "--out", str(studies / "light")]):
        result = subprocess.run([sys.executable, "-c", check, *args], capture_output=True, text=True)
        assert result.returncode == 0, (args, result.stderr[-500:])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_optuna_dashboard_command_opens_a_run_folders_study(studies):
    """As optuna-dashboard's docs say: the journal file's path as its storage argument; the objectives by name."""
    port = _free_port()
    command = [str(Path(sys.executable).parent / "optuna-dashboard"), str(studies / "search" / "study.log"),
               "--port", str(port), "--server", "wsgiref", "--quiet"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline, summaries = time.monotonic() + 60, None
        while summaries is None and time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=5) as response:
                    summaries = json.loads(response.read())["study_summaries"]
            except OSError:
                time.sleep(0.5)
        assert summaries is not None, server.stderr.read().decode()[-500:] if server.poll() is not None else "no answer"
        assert [summary["study_name"] for summary in summaries] == ["search"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies/{summaries[0]['study_id']}", timeout=5) as response:
            detail = json.loads(response.read())
        assert len(detail["trials"]) == len(load(studies / "search").trials)
        assert detail["objective_names"] == ["mean return", "LUTs", "latency (s)", "energy per action (J)"]
    finally:
        server.terminate()
        server.wait(timeout=30)
