"""Options shared by the commands, and the records they make of them (TrainSpec, PolicyConfig, StudySettings, spaces).

Nothing here imports torch, Ray or FINN: ``dse --help`` and the reading commands stay light.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path

from synthesis import DEVICES
from training import ALGO_CONFIGS, PolicyConfig, TrainSpec, field_docs

SCALE_FIELDS = ("scale_warmup_steps", "scale_percentile", "scale_momentum")
SPACE_AXES = ("widths", "core_bits", "input_bits", "output_bits")


class CliError(Exception):
    """A usage error found by the CLI itself."""


class Parser(argparse.ArgumentParser):
    """argparse, with its errors as one line (no usage block) and exit code 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def option(name: str) -> str:
    return "--" + name.replace("_", "-")


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed; use an integer >= 1")
    return int(text)


def check_at_least_one(args: argparse.Namespace, *names: str) -> None:
    for name in names:
        if getattr(args, name) < 1:
            raise CliError(f"{name} {getattr(args, name)} is invalid: it must be at least 1")


# ---- training fidelity ---------------------------------------------------------------------------
def add_hyper_options(parser: argparse.ArgumentParser) -> None:
    """Every field of every algorithm's dataclass, with its docstring as help."""
    group = parser.add_argument_group("algorithm hyperparameters (defaults: CleanRL's, per --algo)")
    seen: dict[str, list[str]] = {}
    for algo, config_cls in ALGO_CONFIGS.items():
        docs = field_docs(config_cls)
        for f in dataclasses.fields(config_cls):
            seen.setdefault(f.name, []).append(algo)
            if len(seen[f.name]) > 1:
                continue
            kwargs: dict = {"default": None, "help": docs.get(f.name, "")}
            if isinstance(f.default, bool):
                kwargs["action"] = argparse.BooleanOptionalAction
            else:
                kwargs["type"] = type(f.default)
                kwargs["metavar"] = f.name.upper()
            group.add_argument(option(f.name), dest=f"hyper_{f.name}", **kwargs)
    for name, algos in seen.items():
        if len(algos) < len(ALGO_CONFIGS):
            action = next(a for a in group._group_actions if a.dest == f"hyper_{name}")
            action.help += f" [{', '.join(algos)} only]"


def hyper_from_args(args: argparse.Namespace):
    config_cls = ALGO_CONFIGS[args.algo]
    allowed = {f.name for f in dataclasses.fields(config_cls)}
    overrides = {}
    for key, value in vars(args).items():
        if not key.startswith("hyper_") or value is None:
            continue
        name = key.removeprefix("hyper_")
        if name not in allowed:
            raise CliError(f"{option(name)} is not a setting of --algo {args.algo}")
        overrides[name] = value
    return config_cls(**overrides)


def add_fidelity_options(parser: argparse.ArgumentParser, env_required: bool = True) -> None:
    parser.add_argument("--env", required=env_required, help="gymnasium env id, e.g. Hopper-v4")
    parser.add_argument("--algo", choices=sorted(ALGO_CONFIGS), default="sac")
    parser.add_argument("--steps", type=int, default=1_000_000, help="env steps per training")
    parser.add_argument("--no-normalize", action="store_true", help="turn observation normalization off")
    parser.add_argument("--eval-every", type=int, default=10_000, help="env steps between learning-curve points (0: none)")
    parser.add_argument("--eval-episodes", type=int, default=10, help="episodes per learning-curve point")
    parser.add_argument("--final-eval-episodes", type=int, default=10, help="episodes of the final evaluation")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per training (one is fastest when trainings share cores)")
    add_hyper_options(parser)


def spec_from_args(args: argparse.Namespace, policy: PolicyConfig, seed: int) -> TrainSpec:
    return TrainSpec(
        env_id=args.env,
        algo=args.algo,
        policy=policy,
        hyper=hyper_from_args(args),
        total_steps=args.steps,
        seed=seed,
        normalize=not args.no_normalize,
        eval_every=args.eval_every,
        eval_episodes=args.eval_episodes,
        final_eval_episodes=args.final_eval_episodes,
    )


# ---- hardware -----------------------------------------------------------------------------------
def add_device_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="xc7a15tfgg484-1", help=f"FPGA part, one of {', '.join(DEVICES)}")
    parser.add_argument("--clock-mhz", type=float, default=100.0, help="clock frequency (default 100)")
    parser.add_argument("--pad", type=int, default=32, help="pad observation and action dims to a multiple of this (1: off)")
    parser.add_argument(
        "--weight-memory",
        default="cheaper",
        help="weights in LUTRAM (distributed), BRAM (block), or per layer the smaller device share (cheaper)",
    )
    parser.add_argument(
        "--estimator",
        default="model",
        help="resources from the model fitted to synthesis (model, the default) or FINN's analytical estimate (finn)",
    )
    parser.add_argument(
        "--calibration",
        default="vivado",
        help="the model's toolchain: vivado (a FINN/Vivado build, the default) or yosys (what --post-synth builds)",
    )
    parser.add_argument(
        "--multipliers",
        default="auto",
        help="products on the device's DSP48E1s while they last, the rest in LUTs (auto), all on DSPs (dsp) or all in LUTs "
        "(lut), fitting or not; the model only",
    )


def synthesis_settings(args: argparse.Namespace):
    """The hardware settings of the command (imports FINN's adapter)."""
    from synthesis.estimate import SynthesisSettings

    return SynthesisSettings(
        device=args.device, clock_mhz=args.clock_mhz, pad_multiple=args.pad, weight_memory=args.weight_memory,
        estimator=args.estimator, calibration=args.calibration, multipliers=args.multipliers,
    )  # fmt: skip


# ---- studies ------------------------------------------------------------------------------------
def add_execution_options(parser: argparse.ArgumentParser) -> None:
    """How a study's trainings run and where it keeps them (dse run and dse sweep)."""
    parser.add_argument("--seeds", type=int, default=10, help="training seeds per candidate (and of the FP32 baseline)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="training tasks at once (default: CPU cores)")
    parser.add_argument("--cpus-per-task", type=float, default=1.0, help="Ray CPUs each training task holds")
    parser.add_argument(
        "--task-per-seed",
        action="store_true",
        help="one training task per seed instead of one per candidate training its seeds together (batched)",
    )
    parser.add_argument("--checkpoint-minutes", type=float, default=10.0,
                        help="a training saves itself (to OUT/cache/resume, on the driver's node) at least every M minutes"
                             " and resumes from there after a lost worker or node or a stopped study (default 10; 0: only"
                             " by --checkpoint-steps)")
    parser.add_argument("--checkpoint-steps", type=int, help="also save every N env steps")
    parser.add_argument("--ray-address", help="join this Ray cluster (e.g. auto) instead of starting Ray locally")
    parser.add_argument(
        "--storage",
        help="Optuna storage: a SQLAlchemy URL (postgresql://..., sqlite:///...) or the path of an Optuna journal file "
        "(default: $DSE_STORAGE, else the journal file OUT/study.log); keep a password off the command line: in "
        "DSE_STORAGE, PGPASSWORD or ~/.pgpass",
    )
    parser.add_argument("--study-name", help="study name in the storage (default: the run folder's name)")
    parser.add_argument("--out", help="run folder (default under runs/, named after the env and strategy)")
    parser.add_argument("--cache", help="trained-policy cache, shareable between studies (default OUT/cache)")
    parser.add_argument("--baseline-width", type=int, default=256, help="hidden width of the FP32 baseline")
    parser.add_argument("--dry-run", action="store_true", help="print what the study would train and cost, then exit")
    add_device_options(parser)


def add_early_stop_option(parser: argparse.ArgumentParser, default: str) -> None:
    from objectives.early_stop import EARLY_STOP_MODES

    parser.add_argument(
        "--early-stop",
        choices=EARLY_STOP_MODES,
        help="stop a candidate's training when its learning curve falls out of reach of the FP32 curve"
        f" (objectives/early_stop.py; default {default})",
    )


def add_strategy_options(parser: argparse.ArgumentParser) -> None:
    """How a study chooses its candidates, and how many (dse run and dse replay)."""
    from dse.storage.settings import NO_MATCH, PROMOTIONS, SAMPLERS, SCANS, STARTUPS
    from dse.strategies.staged import STRATEGIES

    parser.add_argument("--budget", type=int, default=200,
                        help="candidates to train, each on --seeds seeds (a re-run continues up to it); repeats cost "
                             "none of it")
    parser.add_argument("--strategy", choices=STRATEGIES, default="search",
                        help="search: an Optuna sampler; staged: the published staged rule; random: uniform draws")
    parser.add_argument("--sampler", choices=SAMPLERS, default="ehvi",
                        help="sampler of --strategy search: ehvi (expected hypervolume improvement with every candidate's "
                             "hardware priced before training, docs/search.md; the default) or an Optuna sampler")
    parser.add_argument("--seed", type=int, default=0, help="seeds the sampler")
    parser.add_argument("--startup", choices=STARTUPS, default="staged",
                        help="how a search opens: the staged rule's first sweep (default), a space-filling Latin "
                             "hypercube, or Optuna's random start-up")
    parser.add_argument("--fidelity-rungs", type=int, default=1,
                        help="successive halving across env steps (search and random strategies): every candidate "
                             "trains to --steps / FACTOR^(RUNGS-1), the best 1/FACTOR of each rung by non-dominated rank "
                             "of return and hardware resumes to the next rung, up to --steps; only the last rung's "
                             "results enter the front (default 1: every candidate trains to --steps)")
    parser.add_argument("--fidelity-factor", type=int, default=3, help="reduction factor between rungs (default 3)")
    parser.add_argument("--fidelity-promotion", choices=PROMOTIONS, default="all",
                        help="which candidates a rung ranks together: all that reached it (default), or those of one "
                             "width (narrow networks learn slower)")
    parser.add_argument("--seed-racing", type=int, default=0, metavar="K",
                        help="search and random strategies: train K seeds of a candidate first, the rest only while "
                             "its parity or its place on the front is uncertain (docs/search.md; default 0: off)")
    parser.add_argument("--staged-scan", choices=SCANS, default="anywhere",
                        help="the staged rule's 'smallest value that matches', where the paper is silent: the smallest "
                             "of the whole sweep (default), or scanning down from the most precise value to the first "
                             "that fails (one candidate at a time)")
    parser.add_argument("--staged-no-match", choices=NO_MATCH, default="most-precise",
                        help="the staged rule at a stage where no value matches: keep the most precise value (default) "
                             "or stop with no pick")


def add_space_options(parser: argparse.ArgumentParser) -> None:
    space = parser.add_argument_group("search space (default: the paper's grids; LIST is 16,32 or 2..8)")
    space.add_argument("--space", metavar="YAML", help="a YAML mapping of widths, core_bits, input_bits, output_bits")
    space.add_argument("--widths", metavar="LIST", help="hidden widths (default 16,32,64,128,256)")
    space.add_argument("--core-bits", metavar="LIST", help="b_core values (default 2..8)")
    space.add_argument("--input-bits", metavar="LIST", help="b_in values (default 2..8)")
    space.add_argument("--output-bits", metavar="LIST", help="b_out values (default 8)")
    space.add_argument("--foldings", help=argparse.SUPPRESS)  # gone: a one-line error says why


def add_search_options(parser: argparse.ArgumentParser) -> None:
    add_strategy_options(parser)
    add_space_options(parser)


def space_from_args(args: argparse.Namespace):
    import yaml

    from search_spaces import FOLDING_AXIS_GONE, SearchSpace

    if args.foldings is not None:
        raise CliError(f"--{FOLDING_AXIS_GONE}")
    space = SearchSpace()
    if args.space:
        try:
            data = yaml.safe_load(Path(args.space).read_text())
        except OSError as error:
            raise CliError(f"search space file {args.space} cannot be read: {error.strerror}") from None
        except yaml.YAMLError as error:
            raise CliError(f"search space file {args.space} is not valid YAML: {str(error).splitlines()[0]}") from None
        space = SearchSpace.from_mapping(data)
    flags = {axis: getattr(args, axis) for axis in SPACE_AXES}
    return SearchSpace.from_mapping({axis: value for axis, value in flags.items() if value is not None}, base=space)


def env_name(env_id: str) -> str:
    return env_id.lower().rsplit("-v", 1)[0]


def study_settings(args: argparse.Namespace, strategy: str, space, early_stop: str, sweep: tuple = ()):
    """The study's settings from the command's options; every input checked before anything is written."""
    from dse.storage.settings import StudySettings
    from training.envs import make_env

    check_at_least_one(args, "workers", "threads")
    if args.cpus_per_task <= 0:
        raise CliError(f"cpus-per-task {args.cpus_per_task} is invalid: it must be > 0")
    if args.checkpoint_minutes < 0:
        raise CliError(f"checkpoint-minutes {args.checkpoint_minutes:g} is invalid: it must be >= 0 (0: by steps only)")
    if args.checkpoint_steps is not None and args.checkpoint_steps < 1:
        raise CliError(f"checkpoint-steps {args.checkpoint_steps} is invalid: it must be at least 1")
    settings = StudySettings(
        env_id=args.env, strategy=strategy, sampler=getattr(args, "sampler", "random"), sampler_seed=getattr(args, "seed", 0),
        seeds=args.seeds, template=spec_from_args(args, PolicyConfig(), 0), space=space,
        synthesis=dataclasses.asdict(synthesis_settings(args)), baseline_width=args.baseline_width, sweep=sweep,
        early_stop=early_stop, startup=getattr(args, "startup", "staged"),
        fidelity_rungs=getattr(args, "fidelity_rungs", 1), fidelity_factor=getattr(args, "fidelity_factor", 3),
        staged_scan=getattr(args, "staged_scan", "anywhere"), staged_no_match=getattr(args, "staged_no_match", "most-precise"),
        seed_racing=getattr(args, "seed_racing", 0), fidelity_promotion=getattr(args, "fidelity_promotion", "all"),
    )
    make_env(args.env).close()
    PolicyConfig(width=args.baseline_width, fp32=True)
    return settings
