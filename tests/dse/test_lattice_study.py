"""A study on a Lattice part: dse run --device ice40up5k scores return, logic cells and latency by the family's fitted
model (its energy is not estimated), on the same trainings as the XC7 study, and its report says so."""

from pathlib import Path

import optuna
import pandas as pd

from dse.cli import main
from dse.storage.run_folder import open_run_study
from dse.storage.trials import candidate_of
from dse.study.scoring import distinct
from synthesis import lower_qonnx
from synthesis.estimate import SynthesisSettings, Synthesizer
from synthesis.lattice_parts import ports
from tests.dse.tiny import TINY_STUDY, trained


def summary_of(run: Path) -> str:
    return (run / "reports" / "summary.md").read_text()


def _scored(study) -> list:
    return [trial for trial in trained(study) if trial.state == optuna.trial.TrialState.COMPLETE]


def test_a_staged_study_on_the_ice40_scores_the_familys_numbers_without_energy(studies, capsys):
    out, cache = studies / "ice40", str(studies / "cache")
    assert main(["run", *TINY_STUDY, "--strategy", "staged", "--budget", "20", "--device", "ice40up5k", "--out", str(out),
                 "--cache", cache]) == 0  # fmt: skip
    study = open_run_study(out)
    assert study.directions == [optuna.study.StudyDirection.MAXIMIZE] + [optuna.study.StudyDirection.MINIMIZE] * 2
    assert study.metric_names == ["mean return", "LUTs", "latency (s)"]
    on_xc7 = {candidate_of(trial): trial for trial in _scored(open_run_study(studies / "staged"))}
    scored = _scored(study)
    assert scored and {candidate_of(trial) for trial in scored} == set(on_xc7)  # the staged rule asks by return alone
    settings = SynthesisSettings(lattice="ice40up5k", clock_mhz=None)
    for trial in scored:
        assert len(trial.values) == 3 and trial.values[0] == on_xc7[candidate_of(trial)].values[0]  # the same training
        policy = lower_qonnx(Path(trial.user_attrs["policy_dir"]) / "policy.onnx")
        priced = distinct(Synthesizer(policy, settings).sweep()[0])
        designs = trial.user_attrs["designs"]
        assert [design["luts"] for design in designs] == [report.luts for report in priced]
        assert all(design["energy_j"] is None for design in designs)
        # 8-bit observations need more pins than the UP5K has: none of their designs fits
        assert all(design["fits"] for design in designs) or ports(policy) > 39
        assert all(f"I/O pin {ports(policy)} > 39" in design["over"] for design in designs) or ports(policy) <= 39

    assert main(["report", str(out)]) == 0
    summary = summary_of(out)
    assert "iCE40UP5K-SG48I, each design at the fastest clock it is estimated to close at" in summary
    assert "energy not estimated" in summary and "the three objectives (return, LUTs, latency)" in summary
    # the front's best design placed and routed on the part, with a bitstream
    assert main(["report", str(out), "--post-synth", "--top", "1"]) == 0
    routed = pd.read_csv(out / "reports" / "post_synth.csv")
    assert len(routed) == 1 and routed["bit_exact"].all() and routed["fmax_mhz"].iloc[0] > 12
    assert Path(routed["bitstream"].iloc[0]).exists() and "Placed and routed by the open flow" in summary_of(out)
    capsys.readouterr()
    assert main(["compare", str(studies / "staged"), str(out), "--out", str(studies / "compare-ice40")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "studies of different objectives cannot be compared" in err
