"""Options shared by the commands, and the records they make of them (TrainSpec, PolicyConfig, StudySettings, spaces).

Nothing here imports torch, Ray or FINN: ``dse --help`` and the reading commands stay light.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

from synthesis import DEFAULT_DEVICE, DEVICES
from synthesis.choices import CALIBRATIONS, ESTIMATORS, PRODUCT_PLACEMENTS, WEIGHT_MEMORIES
from synthesis.lattice_parts import PARTS, lattice_part
from training import ALGO_CONFIGS, PolicyConfig, TrainSpec, field_docs

SCALE_FIELDS = ("scale_warmup_steps", "scale_percentile", "scale_momentum")
SPACE_AXES = ("widths", "core_bits", "input_bits", "output_bits")


class CliError(Exception):
    """A usage error found by the CLI itself."""


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """argparse's help with each option's default, unless its help text already says what the default is."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if not action.option_strings or any(action.default is nothing for nothing in (None, False, argparse.SUPPRESS)) \
                or "default" in text:
            return text
        return f"{text} (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """argparse with every default in ``--help``, and errors as the usage line and one ``dse: error:`` line (exit 2)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.exit(2, f"{self.short_usage()}\ndse: error: {message}\n")

    def short_usage(self) -> str:
        """The usage on one line: the required options and the positionals, the optional ones as [options]."""
        kept, depth = [], 0
        for char in " ".join(self.format_usage().split()):
            depth += (char == "[") - (char == "]")
            if depth == 0 and char not in "[]":
                kept.append(char)
        words = "".join(kept).split()  # usage: dse run --env ENV
        return " ".join([*words[: 1 + len(self.prog.split())], "[options]", *words[1 + len(self.prog.split()):]])


class Renamed(argparse.Action):
    """An option's old spelling: it still works, for one release, with a one-line notice of the new one."""

    def __init__(self, option_strings, dest, new: str, **kwargs) -> None:
        super().__init__(option_strings, dest, default=argparse.SUPPRESS, help=argparse.SUPPRESS, **kwargs)
        self.new = new

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        print(f"dse: note: {option_string} is now {self.new}; the old spelling goes in the next release", file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_renamed(parser, old: str, new: str, dest: str, **kwargs) -> None:
    """Keep ``old`` working as ``new`` (which stores into ``dest``) for one release."""
    parser.add_argument(old, dest=dest, action=Renamed, new=new, **kwargs)


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
    """Every field of every algorithm's dataclass, with its docstring as help and each algorithm's default."""
    group = parser.add_argument_group("algorithm hyperparameters (defaults: CleanRL's, per --algo)")
    defaults: dict[str, dict[str, object]] = {}
    fields: dict[str, dataclasses.Field] = {}
    docs: dict[str, str] = {}
    for algo, config_cls in ALGO_CONFIGS.items():
        docs = field_docs(config_cls) | docs
        for f in dataclasses.fields(config_cls):
            defaults.setdefault(f.name, {})[algo] = f.default
            fields.setdefault(f.name, f)
    for name, f in fields.items():
        by_algo = defaults[name]
        if len(set(map(repr, by_algo.values()))) == 1:
            shown = f"{next(iter(by_algo.values()))}"
        else:
            shown = ", ".join(f"{algo} {value}" for algo, value in by_algo.items())
        only = f" [{', '.join(by_algo)} only]" if len(by_algo) < len(ALGO_CONFIGS) else ""
        kwargs: dict = {"default": None, "help": f"{docs.get(name, '')}{only} (default: {shown})".replace("%", "%%")}
        if isinstance(f.default, bool):
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = type(f.default)
            kwargs["metavar"] = name.upper()
        group.add_argument(option(name), dest=f"hyper_{name}", **kwargs)


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


def add_fidelity_options(parser: argparse.ArgumentParser, env_required: bool = True):
    """How each policy trains and is evaluated; the group, for the options a study adds to it."""
    parser.add_argument("--env", required=env_required,
                        help="gymnasium env id, e.g. Hopper-v4" + ("" if env_required else " (default: none)"))
    group = parser.add_argument_group("fidelity: how each policy trains and is evaluated")
    group.add_argument("--algo", choices=sorted(ALGO_CONFIGS), default="sac", help="the RL algorithm")
    group.add_argument("--steps", type=int, default=1_000_000, help="env steps per training")
    group.add_argument("--no-normalize", action="store_true", help="turn observation normalization off")
    group.add_argument("--eval-every", type=int, default=10_000, help="env steps between learning-curve points (0: none)")
    group.add_argument("--eval-episodes", type=int, default=10, help="episodes per learning-curve point")
    group.add_argument("--final-eval-episodes", type=int, default=10, help="episodes of the final evaluation")
    group.add_argument("--threads", type=int, default=1, help="torch threads per training (one is fastest when trainings share cores)")
    add_hyper_options(parser)
    return group


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
def part_name(text: str) -> str:
    """An argparse type: the FPGA part's own name (dashes and case do not matter), or the text for argparse to refuse.

    A Lattice part is named by its short name (``synthesis.lattice_parts``: lfe5u-25f, ice40up5k, ...)."""
    folded = text.replace("-", "").lower()
    lattice = lattice_part(text)
    if lattice is not None:
        return lattice.aliases[0]
    return next((part for part in DEVICES if part.replace("-", "").lower() == folded), text)


def add_device_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("hardware: the device and how designs are built and priced")
    choices = list(DEVICES) + [part.aliases[0] for part in PARTS.values()]
    group.add_argument("--device", type=part_name, choices=choices, default=DEFAULT_DEVICE,
                       help="FPGA part: an Artix-7, or a Lattice ECP5 or iCE40 UltraPlus priced by its family's model "
                            "fitted on the open flow (energy not estimated)")
    group.add_argument("--clock-mhz", type=float, help="clock frequency (default: 100 MHz; on a Lattice part, the "
                                                       "fastest each design closes at)")
    group.add_argument("--pad", type=int, default=32, help="pad observation and action dims to a multiple of this (1: off)")
    group.add_argument("--weight-memory", choices=WEIGHT_MEMORIES, default="cheaper",
                       help="weights in LUTRAM (distributed), BRAM (block), or per layer the smaller device share (cheaper)")
    group.add_argument("--estimator", choices=ESTIMATORS, default="model",
                       help="resources from the hardware model fitted to synthesis, or FINN's analytical estimate")
    group.add_argument("--calibration", choices=CALIBRATIONS, default="vivado",
                       help="the hardware model's toolchain: a FINN/Vivado build, or yosys (what --post-synth builds)")
    group.add_argument("--multipliers", choices=PRODUCT_PLACEMENTS, default="auto",
                       help="products on the device's DSP48E1s while they last and the rest in LUTs (auto), or all on "
                            "DSPs, or all in LUTs, fitting or not; the hardware model only")


def synthesis_settings(args: argparse.Namespace):
    """The hardware settings of the command (imports FINN's adapter); on a Lattice part, FINN folds for the XC7A15T and
    its family's model prices the designs, each at the fastest clock it is estimated to close at unless one is
    asked."""
    from synthesis.estimate import SynthesisSettings

    lattice = lattice_part(args.device)
    clock = args.clock_mhz if args.clock_mhz is not None else None if lattice else 100.0
    return SynthesisSettings(
        device=DEFAULT_DEVICE if lattice else args.device, clock_mhz=clock, pad_multiple=args.pad,
        weight_memory=args.weight_memory, estimator=args.estimator, calibration=args.calibration,
        multipliers=args.multipliers, lattice=lattice.aliases[0] if lattice else "",
    )


# ---- studies ------------------------------------------------------------------------------------
def add_execution_options(parser: argparse.ArgumentParser, fidelity) -> None:
    """How a study's trainings run and where it keeps them (dse run, sweep and tabulate); ``fidelity`` is the group
    of ``add_fidelity_options``."""
    fidelity.add_argument("--seeds", type=int, default=10, help="training seeds per candidate (and of the FP32 baseline)")
    fidelity.add_argument("--baseline-width", type=int, default=256, help="hidden width of the FP32 baseline")
    add_device_options(parser)
    execution = parser.add_argument_group("execution: where and how the trainings run")
    execution.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                           help="training tasks at once (default: %(default)s, the CPU cores here)")
    execution.add_argument("--cpus-per-task", type=float, default=1.0, help="Ray CPUs each training task holds")
    execution.add_argument("--task-per-seed", action="store_true",
                           help="one training task per seed instead of one per candidate training its seeds together "
                                "(batched)")
    execution.add_argument("--checkpoint-minutes", type=float, default=10.0,
                           help="a training saves itself (to OUT/cache/resume, on the driver's node) at least every M "
                                "minutes and resumes from there after a lost worker or node or a stopped study (0: only "
                                "by --checkpoint-steps)")
    execution.add_argument("--checkpoint-steps", type=int, help="also save every N env steps (default: by time only)")
    execution.add_argument("--ray-address", help="join this Ray cluster (e.g. auto) (default: start Ray locally)")
    execution.add_argument("--dry-run", action="store_true", help="print what the study would train and cost, then exit")
    storage = parser.add_argument_group("storage: where the study keeps its trials and trainings")
    storage.add_argument(
        "--storage",
        help="Optuna storage: a SQLAlchemy URL (postgresql://..., sqlite:///...) or the path of an Optuna journal file "
        "(default: $DSE_STORAGE, else the journal file OUT/study.log); keep a password off the command line: in "
        "DSE_STORAGE, PGPASSWORD or ~/.pgpass",
    )
    storage.add_argument("--study-name", help="study name in the storage (default: the study folder's name)")
    storage.add_argument("--out", help="study folder (default: under runs/, named after the env and strategy)")
    storage.add_argument("--cache", help="trained-policy cache, shareable between studies (default: OUT/cache)")


def add_early_stop_option(parser: argparse.ArgumentParser, default: str) -> None:
    from objectives.early_stop import EARLY_STOP_MODES

    parser.add_argument(
        "--early-stop",
        choices=EARLY_STOP_MODES,
        help="stop a candidate's training when its learning curve falls out of reach of the FP32 curve (docs/search.md)"
        f" (default: {default})",
    )


STRATEGY_DEFAULTS: dict[str, object] = {
    "sampler": "ehvi", "startup": "staged", "sampler_seed": 0, "fidelity_rungs": 1, "fidelity_factor": 3,
    "fidelity_promotion": "all", "seed_racing": 0, "staged_scan": "anywhere", "staged_no_match": "most-precise",
}
"""the default of each strategy option (``STRATEGY_FIELDS`` says which strategies each applies to)"""


def strategy_choices(args: argparse.Namespace, strategy: str) -> dict[str, object]:
    """Every strategy option as given, else its default; one given that does not apply to ``strategy`` is refused."""
    from dse.storage.settings import RUNG_FIELDS, STRATEGY_FIELDS

    given = {dest: getattr(args, dest, None) for dest in STRATEGY_DEFAULTS}
    for dest, value in given.items():
        if value is not None and strategy not in STRATEGY_FIELDS[dest]:
            applies = " and ".join(STRATEGY_FIELDS[dest])
            raise CliError(f"{option(dest)} {value} cannot be combined with --strategy {strategy}: it applies to "
                           f"--strategy {applies}")
    chosen = {dest: STRATEGY_DEFAULTS[dest] if value is None else value for dest, value in given.items()}
    for dest in RUNG_FIELDS:
        if given[dest] is not None and chosen["fidelity_rungs"] < 2:
            raise CliError(f"{option(dest)} {given[dest]} cannot be combined with --fidelity-rungs "
                           f"{chosen['fidelity_rungs']}: it applies to --fidelity-rungs 2 or more")
    return chosen


def add_strategy_options(parser: argparse.ArgumentParser, sampler_seed_default: str = "0") -> None:
    """How a study chooses its candidates, and how many (dse run and dse replay). The options of one strategy default
    to None, so that one given with another strategy is refused (``strategy_choices``); their help says the default."""
    from dse.storage.settings import NO_MATCH, PROMOTIONS, SAMPLERS, SCANS, STARTUPS
    from dse.strategies.staged import STRATEGIES

    def default(dest: str) -> str:
        return f" (default: {STRATEGY_DEFAULTS[dest]})"

    group = parser.add_argument_group("strategy: which candidates the study trains, and how many")
    group.add_argument("--budget", type=int, default=200,
                       help="candidates to train, each on --seeds seeds (a re-run continues up to it); repeats cost none "
                            "of it")
    group.add_argument("--strategy", choices=STRATEGIES, default="search",
                       help="search: an Optuna sampler; staged: the published staged rule; random: uniform draws")
    group.add_argument("--sampler", choices=SAMPLERS,
                       help="sampler of --strategy search: ehvi (expected hypervolume improvement with every "
                            "candidate's hardware priced before training, docs/search.md) or an Optuna sampler"
                            + default("sampler"))
    group.add_argument("--sampler-seed", type=int,
                       help=f"seeds the search or random strategy (default: {sampler_seed_default})")
    add_renamed(group, "--seed", "--sampler-seed", "sampler_seed", type=int)
    group.add_argument("--startup", choices=STARTUPS,
                       help="how a search opens: the staged rule's first sweep, a space-filling Latin hypercube, or "
                            "Optuna's random start-up" + default("startup"))
    group.add_argument("--fidelity-rungs", type=int,
                       help="successive halving across env steps (search and random strategies): every candidate "
                            "trains to --steps / FACTOR^(RUNGS-1), the best 1/FACTOR of each rung by non-dominated rank "
                            "of return and hardware resumes to the next rung, up to --steps; only the last rung's "
                            "results enter the front (default: 1, every candidate trains to --steps)")
    group.add_argument("--fidelity-factor", type=int, metavar="FACTOR",
                       help="reduction factor between rungs" + default("fidelity_factor"))
    group.add_argument("--fidelity-promotion", choices=PROMOTIONS,
                       help="which candidates a rung ranks together: all that reached it, or those of one width "
                            "(narrow networks learn slower)" + default("fidelity_promotion"))
    group.add_argument("--seed-racing", type=int, metavar="K",
                       help="search and random strategies: train K seeds of a candidate first, the rest only while its "
                            "parity or its place on the front is uncertain (docs/search.md) (default: 0, off)")
    group.add_argument("--staged-scan", choices=SCANS,
                       help="the staged rule's 'smallest value that matches', where the paper is silent: the smallest "
                            "of the whole sweep, or scanning down from the most precise value to the first that fails "
                            "(one candidate at a time)" + default("staged_scan"))
    group.add_argument("--staged-no-match", choices=NO_MATCH,
                       help="the staged rule at a stage where no value matches: keep the most precise value, or stop "
                            "with no pick" + default("staged_no_match"))


def add_space_options(parser: argparse.ArgumentParser) -> None:
    space = parser.add_argument_group("search space: the candidates (LIST is 16,32 or 2..8)")
    space.add_argument("--space", metavar="YAML",
                       help="a YAML mapping of widths, core_bits, input_bits, output_bits (default: the paper's grids)")
    for axis, text, default in (
        ("widths", "hidden widths", "16,32,64,128,256"),
        ("core_bits", "b_core values (weights and hidden activations)", "2..8"),
        ("input_bits", "b_in values (the observation quantizer)", "2..8"),
        ("output_bits", "b_out values (the quantizer before tanh)", "8"),
    ):
        space.add_argument(option(f"space_{axis}"), dest=axis, metavar="LIST", help=f"{text} (default: {default})")
        add_renamed(space, option(axis), option(f"space_{axis}"), axis)
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


def study_settings(args: argparse.Namespace, strategy: str, space, early_stop: str, sweep: tuple = (), **choices):
    """The study's settings from the command's options; every input checked before anything is written.

    ``choices`` overrides strategy options the command has none of (a sweep's stored sampler).
    """
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
        env_id=args.env, strategy=strategy, seeds=args.seeds, template=spec_from_args(args, PolicyConfig(), 0), space=space,
        synthesis=synthesis_settings(args).to_dict(), baseline_width=args.baseline_width, sweep=sweep,
        early_stop=early_stop, **(strategy_choices(args, strategy) | choices),
    )
    make_env(args.env).close()
    PolicyConfig(width=args.baseline_width, fp32=True)
    return settings
