"""The ``dse`` command line: the parser of every subcommand and one-line errors with exit codes.

One module per kind of work (``train``, ``hardware``, ``study``, ``analysis``, ``tabular``); each module's ``register`` adds its parsers.

Importing it loads neither torch, Ray nor FINN: each command imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import errno
import sys
from importlib.metadata import PackageNotFoundError, version

from dse.cli import analysis, hardware, study, tabular, train
from dse.cli.options import CliError, Parser
from dse.storage.settings import StudyInputError
from dse.study.signals import catch_stop_signals, stopped_by
from dse.study.tasks import TaskFailed
from objectives.parity import ObjectivesInputError
from search_spaces import SearchSpaceError
from synthesis import FinnFailure, SynthesisInputError
from synthesis.errors import ToolFailure
from training import TrainingDiverged, TrainingInputError

GROUPS = (train, hardware, study, analysis, tabular)
"""in the order ``dse --help`` lists them"""

USER_ERRORS = (CliError, TrainingInputError, ObjectivesInputError, SynthesisInputError, SearchSpaceError, StudyInputError)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="dse", description="Design-space exploration of integer-only RL policies for FPGAs.")
    parser.add_argument("--version", action="version", version=f"dse {installed_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for group in GROUPS:
        group.register(commands)
    return parser


def installed_version() -> str:
    try:
        return version("dse")
    except PackageNotFoundError:  # a source tree on the path, not installed
        return "(not installed)"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    catch_stop_signals()
    try:
        return args.func(args)
    except USER_ERRORS as error:
        print(f"dse: error: {error}", file=sys.stderr)
        return 2
    except (FinnFailure, ToolFailure, TrainingDiverged) as error:
        print(f"dse: {error}", file=sys.stderr)
        return 1
    except TaskFailed as error:
        print(f"dse: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        if error.errno != errno.ENOSPC:
            raise
        written = f" writing {error.filename}" if error.filename else ""
        print(f"dse: error: {error.strerror}{written}: free some space and run the same command again (what was "
              "written before is kept)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        stop = stopped_by()
        if stop is None:
            print("dse: interrupted", file=sys.stderr)
            return 130
        print(f"dse: stopped by {stop.name}; what finished and what was saved are kept: the same command continues",
              file=sys.stderr)
        return 128 + stop

