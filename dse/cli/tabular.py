"""``dse tabulate`` and ``dse replay``: a tabular benchmark of a design space, and studies replayed against it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dse.cli.options import (
    CliError,
    add_early_stop_option,
    add_execution_options,
    add_fidelity_options,
    add_renamed,
    add_space_options,
    add_strategy_options,
    env_name,
    positive_int,
    space_from_args,
    strategy_choices,
    study_settings,
)

TABLE_FILE = "table.json.gz"


def cmd_tabulate(args: argparse.Namespace) -> int:
    from dse.cli.study import run_or_plan
    from dse.tabular.build import build_table

    if args.from_study:
        run_dir = Path(args.from_study)
    elif args.env is None:
        raise CliError("dse tabulate needs --env (to train a table) or --from-study STUDY (to build one from its study)")
    else:
        space = space_from_args(args)
        settings = study_settings(args, "random", space, "off")
        run_dir = Path(args.out or Path("runs") / f"{env_name(args.env)}-table")
        if run_or_plan(args, settings, run_dir, space.size) is None:
            return 0
    path = build_table(run_dir, args.cache, args.threads).save(Path(args.table) if args.table else run_dir / TABLE_FILE)
    print(f"table -> {path}")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from dse.cli.study import early_stop_of
    from dse.reports.report import write_report
    from dse.storage.settings import StudySettings
    from dse.tabular.replay import replay
    from training import TrainSpec

    if args.budget < 1:
        raise CliError(f"budget {args.budget} is invalid: it must be at least 1 trial")

    choices = strategy_choices(args, args.strategy)
    if args.sampler_seed is None:  # a replicate draws the strategy's own randomness too
        choices["sampler_seed"] = args.replicate

    def settings_of(table) -> StudySettings:
        return StudySettings(
            env_id=table.env_id, strategy=args.strategy, seeds=args.seeds, template=TrainSpec.from_dict(table.template),
            space=table.search_space, synthesis=table.synthesis, baseline_width=table.baseline_width,
            early_stop=early_stop_of(args, args.strategy), **choices,
        )

    out = replay(args.table, args.out, settings_of, budget=args.budget, replicate=args.replicate, workers=args.workers,
                 cache=args.cache, command=sys.argv)  # fmt: skip
    print(f"report -> {write_report(out)}")
    return 0


def register(commands) -> None:
    p = commands.add_parser("tabulate", help="train every candidate of a space with N seeds and write a table to replay",
                            description="dse run --strategy random at a budget of the whole space, early stopping off, "
                                        "then the table")
    fidelity = add_fidelity_options(p, env_required=False)
    add_space_options(p)
    add_execution_options(p, fidelity)
    p.add_argument("--table", help=f"where the table goes (default: OUT/{TABLE_FILE})")
    p.add_argument("--from-study", metavar="STUDY",
                   help="build the table from this finished tabulate study (its cache: --cache, else STUDY/cache) "
                        "without training: a new hardware model re-prices a table so (default: train the table)")
    add_renamed(p, "--from-run", "--from-study", "from_study")
    # a table ranks candidates by their final return: 50 episodes, not dse run's 10
    p.set_defaults(func=cmd_tabulate, final_eval_episodes=50)

    p = commands.add_parser("replay", help="a study replayed against a table in seconds (the real driver and strategies)")
    p.add_argument("table", help=f"a table made by dse tabulate ({TABLE_FILE})")
    p.add_argument("--out", required=True, help="a new study folder for the replayed study")
    add_strategy_options(p, sampler_seed_default="the replicate")
    replay_group = p.add_argument_group("replay: which of the table's trainings play the study's")
    replay_group.add_argument("--seeds", type=positive_int, default=2,
                              help="training seeds per candidate, drawn from the table's")
    replay_group.add_argument("--replicate", type=int, default=0,
                              help="which of the table's seeds play seeds 0..S-1: 0 the first S in order, else a draw")
    replay_group.add_argument("--workers", type=positive_int, default=2,
                              help="trainings at once on the replay's clock, which orders them by their recorded wall "
                                   "time")
    replay_group.add_argument("--cache", help="where designs priced before training are kept (default: OUT/cache): "
                                              "share one between replicates")
    add_early_stop_option(p, "as dse run: conservative for search and random, off for staged")
    p.set_defaults(func=cmd_replay)
