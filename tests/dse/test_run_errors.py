"""Bad input to dse run: one line on stderr, exit 2, before anything is created."""

import pytest

from dse.cli import main
from search_spaces.space import EXCERPT_CHARS
from tests.dse.tiny import TINY_STUDY


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (["--budget", "0"], "budget 0 is invalid: it must be at least 1 trial"),
        (["--space-widths", ""], "widths is empty"),
        (["--space-core-bits", "8..2"], "core_bits range '8..2' is empty"),
        (["--space-input-bits", "4..9"], "input-bits 9 is outside the allowed 2..8"),
        (["--foldings", "fit,1e5"], "--foldings is no longer a search axis: every trained policy is mapped at every"),
        (["--env", "Pendlum-v1"], "env 'Pendlum-v1' is not a registered gymnasium env; did you mean Pendulum-v1"),
        (["--env", "CartPole-v1"], "only flat Box spaces are supported"),
        (["--seeds", "0"], "seeds 0 is invalid"),
        (["--workers", "0"], "workers 0 is invalid"),
        (["--steps", "100"], "steps 100 must exceed learning-starts 200"),
        (["--storage", "sqlite:////no/such/dir/study.db"], "storage 'sqlite:////no/such/dir/study.db' cannot be opened"),
        (["--storage", "postgresql://dse@127.0.0.1:9/dse"], "storage 'postgresql://dse@127.0.0.1:9/dse' cannot be opened"),
    ],
)
def test_bad_input_is_one_line(tmp_path, capsys, change, message):
    out = tmp_path / "study"
    assert main(["run", *TINY_STUDY, "--budget", "3", "--out", str(out), *change]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dse: error: ") and message in err and err.count("\n") == 1
    assert not (out / "run.json").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("widths: [16, 32", "is not valid YAML"),
        ("depth: 3", "axis depth is unknown"),
        ("- 16\n- 32", "must be a mapping"),
        ("core_bits: 5..3", "range '5..3' is empty"),
    ],
)
def test_bad_space_files(tmp_path, capsys, text, message):
    space = tmp_path / "space.yaml"
    space.write_text(text)
    assert main(["run", *TINY_STUDY, "--space", str(space), "--out", str(tmp_path / "s")]) == 2
    assert message in capsys.readouterr().err


def test_a_value_outside_a_fixed_set_is_an_argparse_error_before_any_import(capsys):
    for flag, value in (("--strategy", "greedy"), ("--sampler", "cmaes"), ("--device", "xc7k325t"),
                        ("--weight-memory", "ultra"), ("--multipliers", "dsps")):
        with pytest.raises(SystemExit) as exit_info:
            main(["run", *TINY_STUDY, flag, value])
        assert exit_info.value.code == 2
        usage, error = capsys.readouterr().err.splitlines()
        assert usage.startswith("usage: dse run [options] --env ENV") and error.startswith("dse: error: argument")
        assert f"invalid choice: '{value}'" in error


@pytest.mark.parametrize(
    "text",
    ["- " + "x" * 2000, "widths: 16,32," + "x" * 2000, "x" * 1000 + ": 3", "widths: [" + "16, " * 500 + "16]",
     "core_bits: " + "x" * 2000 + "..3"],
)
def test_a_bad_space_file_is_quoted_by_a_short_excerpt_only(tmp_path, capsys, text):
    space = tmp_path / "space.yaml"
    space.write_text(text)
    assert main(["run", *TINY_STUDY, "--space", str(space), "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "..." in err
    assert "x" * EXCERPT_CHARS not in err and "16, " * 20 not in err and len(err) < 300
