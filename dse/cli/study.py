"""``dse run``, ``dse sweep``, ``dse report``, ``dse dashboard`` and ``dse compare``: studies and what reads them.

``report``, ``dashboard`` and ``compare`` read a study without loading torch or FINN.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dse.cli.options import (
    CliError,
    add_early_stop_option,
    add_execution_options,
    add_fidelity_options,
    add_search_options,
    env_name,
    positive_int,
    space_from_args,
    strategy_choices,
    study_settings,
)
from training import SCOPES

EARLY_STOP_DEFAULTS = {"search": "conservative", "random": "conservative", "staged": "off", "sweep": "off"}
"""the staged rule and sweeps are published without early stopping: a stopped candidate would count as not at parity"""


def run_or_plan(args: argparse.Namespace, settings, out: Path, budget: int) -> Path | None:
    """The study to ``budget`` (its report's path), or with --dry-run only its plan (None)."""
    from dse.reports.report import write_report
    from dse.storage.credentials import warn_if_on_command_line
    from dse.study.run import plan, run_study

    warn_if_on_command_line(args.storage)
    if args.dry_run:
        print(plan(out, settings, budget=budget, storage=args.storage, study_name=args.study_name, cache=args.cache,
                   workers=args.workers, task_per_seed=args.task_per_seed, local=args.ray_address is None).describe())
        return None
    import torch

    torch.set_num_threads(1)
    run_study(
        out, settings, budget=budget, storage=args.storage, study_name=args.study_name, cache=args.cache,
        workers=args.workers, cpus_per_task=args.cpus_per_task, threads=args.threads, ray_address=args.ray_address,
        task_per_seed=args.task_per_seed, checkpoint_steps=args.checkpoint_steps,
        checkpoint_minutes=args.checkpoint_minutes, command=sys.argv,
    )
    return write_report(out)


def early_stop_of(args: argparse.Namespace, strategy: str) -> str:
    choices = strategy_choices(args, strategy)
    if choices["fidelity_rungs"] > 1 or choices["seed_racing"]:
        return args.early_stop or "off"  # promotion between rungs, or racing seeds, replaces early stopping
    return args.early_stop or EARLY_STOP_DEFAULTS[strategy]


def cmd_run(args: argparse.Namespace) -> int:
    if args.budget < 1:
        raise CliError(f"budget {args.budget} is invalid: it must be at least 1 trial")
    settings = study_settings(args, args.strategy, space_from_args(args), early_stop_of(args, args.strategy))
    name = env_name(args.env) if args.strategy == "search" else f"{env_name(args.env)}-{args.strategy}"
    report = run_or_plan(args, settings, Path(args.out or Path("runs") / name), args.budget)
    if report is not None:
        print(f"report -> {report}")
    return 0


def _sweep_candidates(args: argparse.Namespace) -> tuple[tuple, str]:
    from dse.strategies.sweep import scope_candidates, width_candidates
    from search_spaces import parse_values

    width, widths = parse_values("width", args.width), args.widths
    if len(width) > 1:  # the old spelling of --widths
        if widths is not None:
            raise CliError(f"--width {args.width} cannot be combined with --widths: --width is one width")
        print(f"dse: note: --width LIST is now --widths {args.width}; the old spelling goes in the next release",
              file=sys.stderr)
        widths = args.width
    if args.scope is not None:
        if args.bits is None:
            raise CliError("--scope needs --bits LIST (e.g. 2..8)")
        if widths is not None:
            raise CliError(f"--scope sweeps bits at one width; got --widths {widths} (give one --width W)")
        if any(value is not None for value in (args.core_bits, args.input_bits, args.output_bits)):
            raise CliError("--scope sets the bits itself: drop --core-bits, --input-bits and --output-bits")
        return scope_candidates(args.scope, parse_values("bits", args.bits), width[0]), f"{env_name(args.env)}-sweep-{args.scope}"
    if args.bits is not None:
        raise CliError("--bits needs --scope all|input|output|core")
    if widths is None or len(parse_values("widths", widths)) < 2:
        raise CliError(f"a width sweep needs at least two widths (--widths LIST), got {widths or 'none'}; or pass "
                       "--scope and --bits")
    bits = [8 if value is None else value for value in (args.core_bits, args.input_bits, args.output_bits)]
    return width_candidates(parse_values("widths", widths), *bits), f"{env_name(args.env)}-sweep-width"


def cmd_sweep(args: argparse.Namespace) -> int:
    from dse.reports.sweep import write_sweep_report
    from dse.strategies.sweep import covering_space

    candidates, name = _sweep_candidates(args)
    # a sweep has stored the sampler "random" since sweeps began, and a resumed study compares its settings
    settings = study_settings(args, "sweep", covering_space(candidates), early_stop_of(args, "sweep"), sweep=candidates,
                              sampler="random")
    out = Path(args.out or Path("runs") / name)
    if run_or_plan(args, settings, out, len(candidates)) is not None:
        print(f"sweep -> {write_sweep_report(out)}, {out / 'reports' / 'sweep.csv'}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from dse.reports.report import write_report

    print(f"report -> {write_report(args.study, post_synth=args.post_synth, top=args.top)}")
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    try:
        from optuna_dashboard import run_server
    except ModuleNotFoundError:
        raise CliError("dse dashboard needs optuna-dashboard: pip install 'dse[dashboard]'") from None

    from dse.storage.run_folder import read_manifest
    from dse.storage.studies import make_storage, storage_url

    storage = make_storage(storage_url(Path(args.study), read_manifest(args.study)["storage"]))
    print(f"optuna-dashboard of {args.study} on http://{args.host}:{args.port} (Ctrl-C stops it)")
    print("note: the dashboard's best trials are the trials its Pareto plot finds non-dominated by their values alone "
          "(each candidate's chosen design), parity with FP32 and fit not considered; dse report's front is the "
          "feasible designs only")
    run_server(storage, host=args.host, port=args.port)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from dse.reports.compare import write_comparison

    out = Path(args.out) if args.out else Path(args.studies[0]).parent / ("compare-" + "-".join(Path(r).name for r in args.studies))
    html, markdown = write_comparison(args.studies, out)
    print(markdown.read_text())
    print(f"-> {html}, {markdown}")
    return 0


def register(commands) -> None:
    p = commands.add_parser("run", help="search the design space (or run the staged rule): a resumable, Ray-parallel study")
    fidelity = add_fidelity_options(p)
    add_search_options(p)
    add_execution_options(p, fidelity)
    add_early_stop_option(fidelity, "conservative for search and random, off for staged")
    p.set_defaults(func=cmd_run)

    p = commands.add_parser("sweep", help="return against bits of one quantization scope, or against width (Figure-1 style)")
    fidelity = add_fidelity_options(p)
    sweep = p.add_argument_group("sweep: the networks trained")
    sweep.add_argument("--scope", choices=SCOPES, help="the part whose bits vary; the others stay at 8 bits (default: none, a width sweep)")
    sweep.add_argument("--bits", metavar="LIST", help="bits of --scope, e.g. 2..8 (default: none; --scope needs it)")
    sweep.add_argument("--width", metavar="W", default="256", help="the hidden width of a --scope sweep")
    sweep.add_argument("--widths", metavar="LIST", help="the widths of a width sweep (e.g. 256,128,64) (default: none, a --scope sweep)")
    sweep.add_argument("--core-bits", type=int, help="b_core of a width sweep (default: 8)")
    sweep.add_argument("--input-bits", type=int, help="b_in of a width sweep (default: 8)")
    sweep.add_argument("--output-bits", type=int, help="b_out of a width sweep (default: 8)")
    add_execution_options(p, fidelity)
    add_early_stop_option(fidelity, "off: a sweep measures every point to the end")
    p.set_defaults(func=cmd_sweep)

    p = commands.add_parser("report", help="HTML Pareto plots, trials.csv/.parquet and a Markdown summary of a study")
    p.add_argument("study", help="a study folder made by dse run")
    p.add_argument("--post-synth", action="store_true",
                   help="synthesize (yosys) and simulate (Verilator) the Pareto front's designs into the report; in a "
                        "study on a Lattice part, place and route them (nextpnr) with a bitstream")
    p.add_argument("--top", type=positive_int, help="with --post-synth: only the K front designs of best return "
                                                     "(default: all of them)")
    p.set_defaults(func=cmd_report)

    p = commands.add_parser("dashboard", help="serve Optuna's dashboard on a study folder's storage")
    p.add_argument("study", help="a study folder made by dse run")
    p.add_argument("--host", default="127.0.0.1", help="the address to serve on")
    p.add_argument("--port", type=int, default=8080, help="the port to serve on")
    p.set_defaults(func=cmd_dashboard)

    p = commands.add_parser("compare", help="studies side by side: hypervolume per trial and per training, fronts, staged pick")
    p.add_argument("studies", nargs="+", help="study folders made by dse run (the same env)")
    p.add_argument("--out", help="folder for compare.html and compare.md (default: next to the first study)")
    p.set_defaults(func=cmd_compare)
