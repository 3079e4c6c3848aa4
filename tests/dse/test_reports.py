"""dse report, compare and dashboard on real studies (tests/dse/conftest.py): every trial and design, the marks and
ranges of the plots, hypervolume stated with its normalization, one plotly.js per folder, escaped pages, and reading
without torch."""

import dataclasses
import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import wsgiref.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dse.cli import main
from dse.reports.compare import comparison, exclusive_points, fronts_figure, pick_row
from dse.reports.figures import (
    DESIGN_MARKS,
    design_groups,
    hypervolume_figure,
    normalization_for,
    pareto_figure,
    return_range,
    study_colour,
)
from dse.reports.run_data import OBJECTIVE_NAMES, load_run
from dse.storage.run_folder import open_run_study
from dse.storage.studies import make_storage, storage_url
from synthesis.devices import HARDWARE_MODEL_VERSION
from tests.dse.tiny import TINY_STUDY, trained


pytestmark = pytest.mark.usefixtures("ray_session")


def test_report_holds_every_trial_and_every_design_and_the_front_of_all_designs(studies):
    run = studies / "search"
    assert main(["report", str(run)]) == 0
    study = open_run_study(run)
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
    assert '<script src="plotly.min.js"></script>' in html and len(html) < 1_000_000, "plotly.js beside the page"
    assert (run / "reports" / "plotly.min.js").stat().st_size > 1_000_000
    assert not any(Path(path).is_absolute() for paths in csv["policy_dirs"].dropna() for path in json.loads(paths))
    summary = (run / "reports" / "summary.md").read_text()
    assert f"Candidates trained: 4 (0 failed), feasible {int(csv.loc[csv['outcome'] == 'trained', 'feasible'].sum())}" in summary
    assert f"Pareto front {int(designs['pareto'].sum())}." in summary
    assert ("Hardware: xc7a15tfgg484-1 at 100 MHz, resources from the hardware model, vivado calibration; timing "
            "estimated from the RTL's stages") in summary
    assert f"(hardware model version {HARDWARE_MODEL_VERSION})." in summary
    assert "reference point 1.1 in each, so at most 1.4641" in summary
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


def test_compare_search_and_staged(studies, capsys):
    out = studies / "compare"
    assert main(["compare", str(studies / "search"), str(studies / "staged"), "--out", str(out)]) == 0
    table = (out / "compare.md").read_text()
    assert "| search " in table and "| staged " in table and "pick dominated by search" in table
    assert "over every feasible design of the studies compared" in table and "## search: front points" in table
    html = (out / "compare.html").read_text()
    assert '<script src="plotly.min.js"></script>' in html and (out / "plotly.min.js").exists()
    assert "staged: the staged rule" in html and "staged staged pick" not in html
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
    # the part of the joint hypervolume only one front covers is carried by its points no other front reaches
    runs = [search, staged]
    normalization = normalization_for(runs)
    for run in runs:
        alone = rows.loc[run.name, "exclusive hypervolume"]
        assert alone >= -1e-12 and (alone > 1e-12) == (len(exclusive_points(run, runs)) > 0)
        assert alone <= rows.loc[run.name, "hypervolume"] + 1e-12 <= normalization.maximum
    # one colour per study in every plot
    fronts = fronts_figure(runs)
    for index, run in enumerate(runs):
        colours = {trace.marker.color if trace.mode == "markers" else trace.line.color
                   for trace in fronts.data if trace.legendgroup == run.name}
        curves = {trace.line.color for trace in hypervolume_figure(runs, normalization).data if trace.name == run.name}
        assert colours == curves == {study_colour(index)}


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
    assert len(detail["trials"]) == len(open_run_study(studies / "search").trials)
    assert {p["name"] for p in detail["trials"][0]["params"]} == {"width", "core_bits", "input_bits", "output_bits"}


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
        assert len(detail["trials"]) == len(open_run_study(studies / "search").trials)
        assert detail["objective_names"] == ["mean return", "LUTs", "latency (s)", "energy per action (J)"]
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_plots_mark_why_a_design_is_off_the_front_and_keep_the_band_in_view(studies):
    run = load_run(studies / "staged")
    groups = design_groups(run.designs)
    assert sorted(index for group in groups for index in group.index) == sorted(run.designs.index), "each design once"
    names = {trace.name for trace in pareto_figure(run).data}
    assert names == {label for label, _ in DESIGN_MARKS} | {f"staged rule's pick ({run.staged_pick.label})"}
    low, high = return_range(run)
    assert low < run.band.lower - run.band.std / 2 and high > run.band.mean + run.band.std
    # one design far below the band moves neither end of the range; it is drawn on the lower edge, pointing down
    designs = run.designs.copy()
    outlier = designs.index[0]
    designs.loc[outlier, ["mean_return", "parity_margin"]] = [run.band.lower - 1000.0, -1000.0]
    designs.loc[outlier, ["feasible", "pareto"]] = False
    far = dataclasses.replace(run, designs=designs)
    assert return_range(far) == pytest.approx(return_range(dataclasses.replace(run, designs=designs.drop(outlier))))
    figure = pareto_figure(far)
    below = next(trace for trace in figure.data if trace.name == DESIGN_MARKS[0][0] and trace.xaxis == "x")
    edge = [symbol for y, symbol in zip(below.y, below.marker.symbol) if y == pytest.approx(return_range(far)[0])]
    assert edge and set(edge) == {"triangle-down"}
    assert all(min(trace.y, default=np.inf) >= return_range(far)[0] for trace in figure.data)
    assert tuple(figure.layout.yaxis.range) == pytest.approx(return_range(far))


def test_report_pages_escape_what_they_show(studies):
    odd = studies / "a<b>&c"
    shutil.copytree(studies / "staged", odd, ignore=shutil.ignore_patterns("reports"))
    assert main(["report", str(odd)]) == 0
    html = (odd / "reports" / "index.html").read_text()
    assert "<title>a&lt;b&gt;&amp;c: InvertedPendulum-v4</title>" in html and "<b>" not in html


def test_a_full_disk_leaves_the_report_there_as_it_was(studies, small_disk, capsys):
    study = small_disk.mount / "staged"
    shutil.copytree(studies / "staged", study, ignore=shutil.ignore_patterns("reports"))
    assert main(["report", str(study)]) == 0
    before = {path.name: path.read_bytes() for path in (study / "reports").iterdir()}
    capsys.readouterr()
    small_disk.fill()
    assert main(["report", str(study)]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("dse: error: ") and "space left on" in line and str(study / "reports") in line
    assert {path.name: path.read_bytes() for path in (study / "reports").iterdir()} == before, "whole, or not at all"
    small_disk.free()
    assert main(["report", str(study)]) == 0

