"""``dse noise``, ``dse curves`` and ``dse table``: the paper's studies on a finished study."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from dse.cli.options import CliError


def _sigmas(text: str) -> tuple[float, ...]:
    try:
        sigmas = tuple(float(item) for item in text.split(",") if item.strip())
    except ValueError:
        raise CliError(f"sigma list {text!r} is invalid: write numbers like 0,0.1,0.2") from None
    if not sigmas or any(not (sigma >= 0 and sigma < float("inf")) for sigma in sigmas):
        raise CliError(f"sigma list {text!r} is invalid: give one or more finite sigmas >= 0")
    return sigmas


def cmd_noise(args: argparse.Namespace) -> int:
    from dse.reports.analysis import noise_table, write_band_report
    from dse.study.executor import RayExecutor

    sigmas = _sigmas(args.sigma)
    if args.episodes < 1 or args.workers < 1:
        raise CliError(f"episodes {args.episodes} and workers {args.workers} must be at least 1")
    table, title = noise_table(args.study, sigmas, args.episodes, lambda: RayExecutor(args.ray_address, args.workers), args.trial)
    html, summary = write_band_report(args.study, "noise", table, "sigma", title, "sigma of Gaussian noise on the normalized observation")
    print(summary.to_string(index=False))
    print(f"noise -> {html}, {html.with_suffix('.csv')}")
    return 0


def cmd_curves(args: argparse.Namespace) -> int:
    from dse.reports.analysis import curves_table, write_band_report

    table, title = curves_table(args.study, args.trial)
    html, _ = write_band_report(args.study, "curves", table, "env_step", title, "env steps")
    print(f"curves -> {html}, {html.with_suffix('.csv')}")
    return 0


def cmd_table(args: argparse.Namespace) -> int:
    from dse.reports.analysis import selection_table
    from dse.reports.figures import markdown_table

    table, notes = selection_table(args.studies)
    out = Path(args.out) if args.out else Path(args.studies[0]).parent / "table"
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "table.csv", index=False)
    markdown = markdown_table(table)
    notes_text = "".join(f"- {note}\n" for note in notes)
    (out / "table.md").write_text(f"{markdown}\n\nFFs: \"not estimated\" where FINN's estimator (which has no flip-flop "
                                  f"model) made a design's figures.\n\n{notes_text}")
    print(markdown)
    for note in notes:
        print(f"note: {note}")
    print(f"-> {out / 'table.md'}, {out / 'table.csv'}")
    return 0


def register(commands) -> None:
    p = commands.add_parser("noise", help="return against observation noise: the selected configuration's seeds vs FP32's")
    p.add_argument("study", help="a study folder made by dse run")
    p.add_argument("--sigma", default="0,0.1,0.2,0.3,0.4,0.5", help="noise std values")
    p.add_argument("--episodes", type=int, default=10, help="episodes per model and sigma")
    p.add_argument("--trial", type=int, help="the trial to test (default: the staged pick, else fewest LUTs at parity)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="evaluations at once (default: %(default)s, the CPU cores here)")
    p.add_argument("--ray-address", help="join this Ray cluster (e.g. auto) (default: start Ray locally)")
    p.set_defaults(func=cmd_noise)

    p = commands.add_parser("curves", help="learning curves (mean +- std over seeds) of the selected configuration and FP32")
    p.add_argument("study", help="a study folder made by dse run")
    p.add_argument("--trial", type=int, help="the trial to plot (default: the staged pick, else fewest LUTs at parity)")
    p.set_defaults(func=cmd_curves)

    p = commands.add_parser("table", help="per env: the selected configuration and its hardware beside the reference design")
    p.add_argument("studies", nargs="+", help="study folders made by dse run or dse sweep")
    p.add_argument("--out", help="folder for table.md and table.csv (default: next to the first study)")
    p.set_defaults(func=cmd_table)
