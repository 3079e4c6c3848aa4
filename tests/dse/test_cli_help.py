"""The command line's manners: every default and every fixed set of values in --help, conflicts refused in one line,
old spellings kept for a release with a notice, --version, and bare dse printing the help."""

import argparse
import re

import pytest

from dse.cli import build_parser, main
from tests.dse.tiny import TINY_STUDY

FIXED_VALUES = {"--device", "--weight-memory", "--estimator", "--calibration", "--multipliers", "--algo", "--strategy",
                "--sampler", "--startup", "--fidelity-promotion", "--staged-scan", "--staged-no-match", "--early-stop",
                "--scope"}
"""options whose values are a fixed set: --help lists them and any other value is refused by argparse"""


def commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    return next(action for action in parser._actions if action.dest == "command").choices


def option_blocks(help_text: str) -> dict[str, str]:
    """Each option's entry of a --help page, by its first spelling, on one line."""
    blocks: dict[str, str] = {}
    name = None
    for line in help_text.splitlines():
        start = re.match(r"^  (-[-\w]+)", line)
        if start:
            name = start.group(1)
            blocks[name] = line
        elif name and line.startswith("   "):
            blocks[name] += " " + line.strip()
        else:
            name = None
    return {name: " ".join(block.split()) for name, block in blocks.items()}


def test_every_command_shows_each_default_and_lists_each_fixed_set_of_values(monkeypatch):
    monkeypatch.setenv("COLUMNS", "10000")  # no wrapping: a value is never split at a hyphen
    checked = 0
    for name, parser in commands().items():
        blocks = option_blocks(parser.format_help())
        for action in parser._actions:
            if not action.option_strings or action.help == argparse.SUPPRESS or action.dest == "help":
                continue
            block = blocks[action.option_strings[0]]
            assert action.help, f"dse {name} {action.option_strings[0]} has no help text"
            if action.choices is not None:
                for choice in action.choices:
                    assert str(choice) in block, f"dse {name} {action.option_strings[0]} does not list {choice}"
            elif action.option_strings[0] in FIXED_VALUES:
                pytest.fail(f"dse {name} {action.option_strings[0]} takes free text, not a fixed set of values")
            if action.required or action.nargs == 0 and not action.default:
                continue  # a flag is off unless given
            if action.default is None:
                assert "default: " in block, f"dse {name} {action.option_strings[0]} does not say what happens without it"
            else:
                assert f"default: {action.default}" in block, f"dse {name} {action.option_strings[0]}: {block}"
            checked += 1
    assert checked > 200


@pytest.mark.parametrize("command", ["run", "replay"])
@pytest.mark.parametrize(
    ("options", "first", "second"),
    [
        (["--strategy", "staged", "--sampler", "tpe"], "--sampler tpe", "--strategy staged"),
        (["--strategy", "staged", "--seed-racing", "1"], "--seed-racing 1", "--strategy staged"),
        (["--strategy", "random", "--startup", "space-filling"], "--startup space-filling", "--strategy random"),
        (["--strategy", "search", "--staged-scan", "down"], "--staged-scan down", "--strategy search"),
        (["--fidelity-factor", "2"], "--fidelity-factor 2", "--fidelity-rungs 1"),
        (["--fidelity-rungs", "1", "--fidelity-promotion", "within-width"], "--fidelity-promotion within-width",
         "--fidelity-rungs 1"),
    ],
)
def test_options_that_do_not_apply_together_are_refused_in_one_line(command, options, first, second, tmp_path, capsys):
    target = TINY_STUDY if command == "run" else [str(tmp_path / "table.json.gz")]
    assert main([command, *target, *options, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("dse: error: ") and first in err and second in err, err
    assert not (tmp_path / "out").exists()


def test_an_old_spelling_works_with_a_one_line_notice(tmp_path, capsys):
    out = tmp_path / "study"
    old = ["run", "--env", "InvertedPendulum-v4", "--widths", "16", "--core-bits", "2", "--seed", "3", "--dry-run",
           "--out", str(out)]
    new = ["run", "--env", "InvertedPendulum-v4", "--space-widths", "16", "--space-core-bits", "2", "--sampler-seed",
           "3", "--dry-run", "--out", str(out)]
    assert main(old) == 0
    old_out, old_err = capsys.readouterr()
    assert main(new) == 0
    new_out, new_err = capsys.readouterr()
    assert old_out == new_out and new_err == ""
    assert old_err.splitlines() == [
        f"dse: note: {old} is now {new}; the old spelling goes in the next release"
        for old, new in (("--widths", "--space-widths"), ("--core-bits", "--space-core-bits"), ("--seed", "--sampler-seed"))
    ]


def test_version_and_bare_dse(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and capsys.readouterr().out.strip() == f"dse {version('dse')}"
    assert main([]) == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: dse ") and all(name in text for name in commands())
