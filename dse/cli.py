"""The ``dse`` command line."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

from dse.executor import TaskFailed
from dse.study import StudyInputError
from objectives.parity import Fp32Band, ObjectivesInputError
from search_spaces import SearchSpaceError
from synthesis import DEVICES, FinnFailure, SynthesisInputError, lower_qonnx
from training import (
    ALGO_CONFIGS,
    SCOPES,
    PolicyConfig,
    TrainingDiverged,
    TrainingInputError,
    TrainSpec,
    evaluate,
    field_docs,
    load_policy,
    read_run,
    train_seeds,
    write_eval,
)

USER_ERRORS = (TrainingInputError, ObjectivesInputError, SynthesisInputError, SearchSpaceError, StudyInputError)


class CliError(Exception):
    """A usage error found by the CLI itself."""


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors as one line (no usage block) and exit code 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def _add_hyper_options(parser: argparse.ArgumentParser) -> None:
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
            group.add_argument(_option(f.name), dest=f"hyper_{f.name}", **kwargs)
    for name, algos in seen.items():
        if len(algos) < len(ALGO_CONFIGS):
            action = next(a for a in group._group_actions if a.dest == f"hyper_{name}")
            action.help += f" [{', '.join(algos)} only]"


def _hyper_from_args(args: argparse.Namespace):
    config_cls = ALGO_CONFIGS[args.algo]
    allowed = {f.name for f in dataclasses.fields(config_cls)}
    overrides = {}
    for key, value in vars(args).items():
        if not key.startswith("hyper_") or value is None:
            continue
        name = key.removeprefix("hyper_")
        if name not in allowed:
            raise CliError(f"{_option(name)} is not a setting of --algo {args.algo}")
        overrides[name] = value
    return config_cls(**overrides)


SCALE_FIELDS = ("scale_warmup_steps", "scale_percentile", "scale_momentum")


def _policy_from_args(args: argparse.Namespace) -> PolicyConfig:
    policy = _policy_bits_from_args(args)
    scale_settings = {name: getattr(args, name) for name in SCALE_FIELDS if getattr(args, name) is not None}
    return dataclasses.replace(policy, **scale_settings)


def _policy_bits_from_args(args: argparse.Namespace) -> PolicyConfig:
    explicit = [n for n in ("core_bits", "input_bits", "output_bits") if getattr(args, n) is not None]
    if args.scope is not None:
        if args.bits is None:
            raise CliError("--scope needs --bits B")
        if explicit or args.fp32:
            raise CliError("--scope/--bits cannot be combined with --core-bits, --input-bits, --output-bits or --fp32")
        return PolicyConfig.for_scope(args.scope, args.bits, width=args.width)
    if args.bits is not None:
        raise CliError("--bits needs --scope all|input|output|core")
    if args.fp32 and explicit:
        raise CliError("--fp32 cannot be combined with bit widths")
    bits = {n: getattr(args, n) for n in explicit}
    return PolicyConfig(width=args.width, fp32=args.fp32, **bits)


def _add_fidelity_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", required=True, help="gymnasium env id, e.g. Hopper-v4")
    parser.add_argument("--algo", choices=sorted(ALGO_CONFIGS), default="sac")
    parser.add_argument("--steps", type=int, default=1_000_000, help="env steps per training")
    parser.add_argument("--no-normalize", action="store_true", help="turn observation normalization off")
    parser.add_argument("--eval-every", type=int, default=10_000, help="env steps between learning-curve points (0: none)")
    parser.add_argument("--eval-episodes", type=int, default=10, help="episodes per learning-curve point")
    parser.add_argument("--final-eval-episodes", type=int, default=10, help="episodes of the final evaluation")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per training (one is fastest when trainings share cores)")
    _add_hyper_options(parser)


def _add_single_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _spec(args: argparse.Namespace, policy: PolicyConfig, seed: int) -> TrainSpec:
    return TrainSpec(
        env_id=args.env,
        algo=args.algo,
        policy=policy,
        hyper=_hyper_from_args(args),
        total_steps=args.steps,
        seed=seed,
        normalize=not args.no_normalize,
        eval_every=args.eval_every,
        eval_episodes=args.eval_episodes,
        final_eval_episodes=args.final_eval_episodes,
    )


def _train_with_progress(spec: TrainSpec, seeds: list[int], outs: list[Path], args: argparse.Namespace, label: str):
    """Train ``spec`` for ``seeds`` together, into ``outs``, with one progress bar; the finished runs."""
    import torch
    from tqdm import tqdm

    if args.threads < 1:
        raise CliError(f"threads {args.threads} is invalid: it must be at least 1")
    torch.set_num_threads(args.threads)
    bars = []  # made at the first report, so input errors print alone

    def on_progress(progress) -> None:
        if not bars:
            bars.append(tqdm(total=spec.total_steps, unit="step", desc=label, disable=args.no_progress, dynamic_ncols=True))
        bar = bars[0]
        bar.update(progress.env_step - bar.n)
        if progress.last_eval_return is not None:
            bar.set_postfix(eval_return=f"{progress.last_eval_return:.1f}", refresh=False)

    try:
        return train_seeds(spec, seeds, outs, overwrite=args.overwrite, on_progress=on_progress)
    finally:
        for bar in bars:
            bar.close()


def _check_seeds(seeds: int) -> None:
    if seeds < 1:
        raise CliError(f"seeds {seeds} is invalid: it must be at least 1")


def cmd_train(args: argparse.Namespace) -> int:
    _check_seeds(args.seeds)
    policy = _policy_from_args(args)
    spec = _spec(args, policy, args.seed)
    seeds = list(range(args.seed, args.seed + args.seeds))
    if args.seeds == 1:
        outs = [Path(args.out or f"runs/{args.env.lower()}-{args.algo}-{policy.label}-s{args.seed}")]
    else:
        folder = Path(args.out or f"runs/{args.env.lower()}-{args.algo}-{policy.label}")
        outs = [folder / f"seed-{seed}" for seed in seeds]
    for result in _train_with_progress(spec, seeds, outs, args, policy.label):
        print(f"trained {spec.env_id} {spec.algo} {policy.label} seed {result.spec.seed}: "
              f"return {result.mean_return:.1f} over {len(result.returns)} episodes -> {result.run_dir}")
    return 0


def cmd_baseline(args: argparse.Namespace) -> int:
    _check_seeds(args.seeds)
    policy = PolicyConfig(width=args.width, fp32=True)
    out = Path(args.out or f"runs/baseline-{args.env.lower()}-{args.algo}")
    seeds = list(range(args.seeds))
    results = _train_with_progress(_spec(args, policy, 0), seeds, [out / f"seed-{seed}" for seed in seeds], args, "fp32")
    band = Fp32Band.from_seed_returns([result.mean_return for result in results])
    (out / "band.json").write_text(json.dumps({"env": args.env, "algo": args.algo, "steps": args.steps, **band.to_dict()}, indent=2))
    print(f"FP32 band of {args.env} ({args.seeds} seeds): {band.mean:.1f} +- {band.std:.1f} -> {out / 'band.json'}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    run_dir = Path(args.run)
    config = read_run(run_dir)
    policy, normalizer = load_policy(run_dir)
    returns = evaluate(policy, normalizer, config["spec"]["env_id"], args.episodes, args.seed, args.noise)
    name = "eval.json" if args.noise == 0 else f"eval-noise{args.noise:g}.json"
    path = write_eval(run_dir, returns, args.noise, name, seed=args.seed)
    print(f"return {returns.mean():.1f} +- {returns.std():.1f} over {args.episodes} episodes (noise {args.noise:g}) -> {path}")
    return 0


def _synthesizer(args: argparse.Namespace):
    """The run's integer policy and a Synthesizer with the command's settings (imports FINN)."""
    from synthesis.estimate import SynthesisSettings, Synthesizer

    run_dir = Path(args.run)
    config = read_run(run_dir)
    if config["spec"]["policy"]["fp32"]:
        raise CliError(f"{run_dir} holds an FP32 policy; synthesis needs a quantized one (train without --fp32)")
    settings = SynthesisSettings(
        device=args.device, clock_mhz=args.clock_mhz, pad_multiple=args.pad, weight_memory=args.weight_memory
    )
    policy = lower_qonnx(run_dir / "policy.onnx")
    return policy, Synthesizer(policy, settings, cache_dir=run_dir / "synth-cache")


def _designs(args: argparse.Namespace, synthesizer) -> tuple[list, object]:
    """(every design estimated, the chosen one or None): one folding, one target, or the sweep."""
    from synthesis.estimate import read_folding

    if args.folding:
        report = synthesizer.with_folding(read_folding(args.folding))
        return [report], report
    if args.target_fps is not None:
        report = synthesizer.at_target(args.target_fps)
        return [report], report
    return synthesizer.sweep()


def _print_designs(designs: list, chosen) -> None:
    print(f"{'target/s':>9} {'LUT':>8} {'BRAM36':>6} {'DSP':>4} {'latency':>14} {'actions/s':>12} {'energy':>9}  fits")
    for report in designs:
        target = "folding" if report.target_fps is None else f"{report.target_fps:.0e}"
        latency = f"{report.latency_cycles} cy {report.latency_s * 1e6:.2f}us"
        fits = "yes" if report.fits else "no: " + "; ".join(report.over)
        mark = "  <- chosen" if report is chosen else ""
        print(
            f"{target:>9} {report.luts:>8,} {report.bram36:>6g} {report.dsps:>4} {latency:>14} "
            f"{report.throughput_fps:>12,.0f} {report.energy_per_action_j * 1e9:>6.1f} nJ  {fits}{mark}"
        )


def cmd_synth(args: argparse.Namespace) -> int:
    policy, synthesizer = _synthesizer(args)
    designs, chosen = _designs(args, synthesizer)
    run_dir = Path(args.run)
    summary = {
        "kind": "dse-synth",
        "policy_digest": policy.digest(),
        "settings": dataclasses.asdict(synthesizer.settings),
        "chosen": chosen.to_dict() if chosen else None,
        "designs": [report.to_dict() for report in designs],
    }
    (run_dir / "synth.json").write_text(json.dumps(summary, indent=2))
    _print_designs(designs, chosen)
    if chosen is None:
        print(f"no design fits {synthesizer.settings.device}; every target's design is in {run_dir / 'synth.json'}")
        return 0
    (run_dir / "folding.json").write_text(json.dumps(chosen.folding(), indent=2))
    for note in chosen.notes:
        print(f"note: {note}")
    print(f"-> {run_dir / 'synth.json'}, folding in {run_dir / 'folding.json'}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from synthesis.export import write_finn_build

    policy, synthesizer = _synthesizer(args)
    _, chosen = _designs(args, synthesizer)
    if chosen is None:
        raise CliError(f"no design of the throughput sweep fits {synthesizer.settings.device}; "
                       "pass --target-fps or --folding to export one anyway")
    out = write_finn_build(policy, chosen, synthesizer.settings, Path(args.run) / "policy.onnx", Path(args.finn))
    print(f"FINN build folder -> {out} (see its README.md)")
    return 0


def _add_synthesis_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", help="a finished run folder with a quantized policy")
    design = parser.add_mutually_exclusive_group()
    design.add_argument("--target-fps", type=float, help="one throughput target, actions/s (default: sweep 1e2..1e9)")
    design.add_argument("--folding", help="explicit PE/SIMD per layer: a FINN folding JSON file")
    _add_device_options(parser)


def _add_device_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="xc7a15tfgg484-1", help=f"FPGA part, one of {', '.join(DEVICES)}")
    parser.add_argument("--clock-mhz", type=float, default=100.0, help="clock frequency (default 100)")
    parser.add_argument("--pad", type=int, default=32, help="pad observation and action dims to a multiple of this (1: off)")
    parser.add_argument(
        "--weight-memory",
        default="cheaper",
        help="weights in LUTRAM (distributed), BRAM (block), or per layer the smaller device share (cheaper)",
    )


def _add_execution_options(parser: argparse.ArgumentParser) -> None:
    """How a study's trainings run and where it keeps them (dse run and dse sweep)."""
    parser.add_argument("--seeds", type=int, default=10, help="training seeds per candidate (and of the FP32 baseline)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="training tasks at once (default: CPU cores)")
    parser.add_argument("--cpus-per-task", type=float, default=1.0, help="Ray CPUs each training task holds")
    parser.add_argument(
        "--task-per-seed",
        action="store_true",
        help="one training task per seed instead of one per candidate training its seeds together (batched)",
    )
    parser.add_argument("--ray-address", help="join this Ray cluster (e.g. auto) instead of starting Ray locally")
    parser.add_argument(
        "--storage",
        help="Optuna storage: a SQLAlchemy URL (postgresql://..., sqlite:///...) or sqlite-journal:///PATH "
        "(default: the journal OUT/study.db)",
    )
    parser.add_argument("--study-name", help="study name in the storage (default: the run folder's name)")
    parser.add_argument("--out", help="run folder (default under runs/, named after the env and strategy)")
    parser.add_argument("--cache", help="trained-policy cache, shareable between studies (default OUT/cache)")
    parser.add_argument("--baseline-width", type=int, default=256, help="hidden width of the FP32 baseline")
    _add_device_options(parser)


def _add_early_stop_option(parser: argparse.ArgumentParser, default: str) -> None:
    from objectives.early_stop import EARLY_STOP_MODES

    parser.add_argument(
        "--early-stop",
        choices=EARLY_STOP_MODES,
        default=default,
        help="stop a candidate's training when its learning curve falls out of reach of the FP32 curve"
        f" (objectives/early_stop.py; default {default})",
    )


def _add_search_options(parser: argparse.ArgumentParser) -> None:
    from dse.strategies import STRATEGIES
    from dse.study import SAMPLERS

    parser.add_argument("--budget", type=int, default=200, help="trials to finish (a re-run continues up to it)")
    parser.add_argument("--strategy", choices=STRATEGIES, default="search",
                        help="search: an Optuna sampler; staged: SPEC section 5's rule; random: uniform draws")
    parser.add_argument("--sampler", choices=SAMPLERS, default="tpe", help="sampler of --strategy search")
    parser.add_argument("--seed", type=int, default=0, help="seeds the sampler")
    space = parser.add_argument_group("search space (default: the paper's grids; LIST is 16,32 or 2..8)")
    space.add_argument("--space", metavar="YAML", help="a YAML mapping of widths, core_bits, input_bits, output_bits, foldings")
    space.add_argument("--widths", metavar="LIST", help="hidden widths (default 16,32,64,128,256)")
    space.add_argument("--core-bits", metavar="LIST", help="b_core values (default 2..8)")
    space.add_argument("--input-bits", metavar="LIST", help="b_in values (default 2..8)")
    space.add_argument("--output-bits", metavar="LIST", help="b_out values (default 8)")
    space.add_argument("--foldings", metavar="LIST", help="fit and/or targets 1e2..1e9 actions/s (default all)")


def _space_from_args(args: argparse.Namespace):
    import yaml

    from search_spaces import SearchSpace

    space = SearchSpace()
    if args.space:
        try:
            data = yaml.safe_load(Path(args.space).read_text())
        except OSError as error:
            raise CliError(f"search space file {args.space} cannot be read: {error.strerror}") from None
        except yaml.YAMLError as error:
            raise CliError(f"search space file {args.space} is not valid YAML: {str(error).splitlines()[0]}") from None
        space = SearchSpace.from_mapping(data)
    flags = {axis: getattr(args, axis) for axis in ("widths", "core_bits", "input_bits", "output_bits", "foldings")}
    return SearchSpace.from_mapping({axis: value for axis, value in flags.items() if value is not None}, base=space)


def _env_name(env_id: str) -> str:
    return env_id.lower().rsplit("-v", 1)[0]


def _study_settings(args: argparse.Namespace, strategy: str, space, sweep: tuple = ()):
    """The study's settings from the command's options; every input checked before anything is written."""
    from dse.study import StudySettings
    from synthesis.estimate import SynthesisSettings
    from training.envs import make_env

    for name in ("workers", "threads"):
        if getattr(args, name) < 1:
            raise CliError(f"{name} {getattr(args, name)} is invalid: it must be at least 1")
    if args.cpus_per_task <= 0:
        raise CliError(f"cpus-per-task {args.cpus_per_task} is invalid: it must be > 0")
    synthesis = SynthesisSettings(device=args.device, clock_mhz=args.clock_mhz, pad_multiple=args.pad, weight_memory=args.weight_memory)
    settings = StudySettings(
        env_id=args.env, strategy=strategy, sampler=getattr(args, "sampler", "random"), sampler_seed=getattr(args, "seed", 0),
        seeds=args.seeds, template=_spec(args, PolicyConfig(), 0), space=space, synthesis=dataclasses.asdict(synthesis),
        baseline_width=args.baseline_width, sweep=sweep, early_stop=args.early_stop,
    )
    make_env(args.env).close()
    PolicyConfig(width=args.baseline_width, fp32=True)
    return settings


def _run(args: argparse.Namespace, settings, out: Path, budget: int) -> Path:
    import torch

    from dse.run import run_study

    torch.set_num_threads(1)
    return run_study(
        out, settings, budget=budget, storage=args.storage, study_name=args.study_name, cache=args.cache,
        workers=args.workers, cpus_per_task=args.cpus_per_task, threads=args.threads, ray_address=args.ray_address,
        task_per_seed=args.task_per_seed, command=sys.argv,
    )


def cmd_run(args: argparse.Namespace) -> int:
    if args.budget < 1:
        raise CliError(f"budget {args.budget} is invalid: it must be at least 1 trial")
    settings = _study_settings(args, args.strategy, _space_from_args(args))
    name = _env_name(args.env) if args.strategy == "search" else f"{_env_name(args.env)}-{args.strategy}"
    report = _run(args, settings, Path(args.out or Path("runs") / name), args.budget)
    print(f"report -> {report}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from dse.sweep import covering_space, scope_candidates, width_candidates, write_sweep_report
    from search_spaces import parse_values

    widths = parse_values("widths", args.width)
    if args.scope is not None:
        if args.bits is None:
            raise CliError("--scope needs --bits LIST (e.g. 2..8)")
        if len(widths) != 1:
            raise CliError(f"--scope sweeps bits at one width; got --width {args.width}")
        if any(value is not None for value in (args.core_bits, args.input_bits, args.output_bits)):
            raise CliError("--scope sets the bits itself: drop --core-bits, --input-bits and --output-bits")
        candidates = scope_candidates(args.scope, parse_values("bits", args.bits), widths[0])
        name = f"{_env_name(args.env)}-sweep-{args.scope}"
    else:
        if args.bits is not None:
            raise CliError("--bits needs --scope all|input|output|core")
        if len(widths) < 2:
            raise CliError(f"a width sweep needs at least two widths, got --width {args.width} (or pass --scope and --bits)")
        bits = [8 if value is None else value for value in (args.core_bits, args.input_bits, args.output_bits)]
        candidates = width_candidates(widths, *bits)
        name = f"{_env_name(args.env)}-sweep-width"
    settings = _study_settings(args, "sweep", covering_space(candidates), sweep=candidates)
    out = Path(args.out or Path("runs") / name)
    _run(args, settings, out, len(candidates))
    print(f"sweep -> {write_sweep_report(out)}, {out / 'reports' / 'sweep.csv'}")
    return 0


def _sigmas(text: str) -> tuple[float, ...]:
    try:
        sigmas = tuple(float(item) for item in text.split(",") if item.strip())
    except ValueError:
        raise CliError(f"sigma list {text!r} is invalid: write numbers like 0,0.1,0.2") from None
    if not sigmas or any(not (sigma >= 0 and sigma < float("inf")) for sigma in sigmas):
        raise CliError(f"sigma list {text!r} is invalid: give one or more finite sigmas >= 0")
    return sigmas


def cmd_noise(args: argparse.Namespace) -> int:
    from dse.analysis import noise_table, write_band_report
    from dse.executor import RayExecutor

    sigmas = _sigmas(args.sigma)
    if args.episodes < 1 or args.workers < 1:
        raise CliError(f"episodes {args.episodes} and workers {args.workers} must be at least 1")
    table, title = noise_table(args.run, sigmas, args.episodes, lambda: RayExecutor(args.ray_address, args.workers), args.trial)
    html, summary = write_band_report(args.run, "noise", table, "sigma", title, "sigma of Gaussian noise on the normalized observation")
    print(summary.to_string(index=False))
    print(f"noise -> {html}, {html.with_suffix('.csv')}")
    return 0


def cmd_curves(args: argparse.Namespace) -> int:
    from dse.analysis import curves_table, write_band_report

    table, title = curves_table(args.run, args.trial)
    html, _ = write_band_report(args.run, "curves", table, "env_step", title, "env steps")
    print(f"curves -> {html}, {html.with_suffix('.csv')}")
    return 0


def cmd_table(args: argparse.Namespace) -> int:
    from dse.analysis import selection_table
    from dse.report import markdown_table

    table, notes = selection_table(args.runs)
    out = Path(args.out) if args.out else Path(args.runs[0]).parent / "table"
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "table.csv", index=False)
    markdown = markdown_table(table)
    notes_text = "".join(f"- {note}\n" for note in notes)
    (out / "table.md").write_text(f"{markdown}\n\nFFs: FINN's estimator has no flip-flop model.\n\n{notes_text}")
    print(markdown)
    for note in notes:
        print(f"note: {note}")
    print(f"-> {out / 'table.md'}, {out / 'table.csv'}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from dse.report import write_report

    print(f"report -> {write_report(args.run)}")
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    from optuna_dashboard import run_server

    from dse.report import read_manifest
    from dse.study import make_storage, storage_url

    storage = make_storage(storage_url(Path(args.run), read_manifest(args.run)["storage"]))
    print(f"optuna-dashboard of {args.run} on http://{args.host}:{args.port} (Ctrl-C stops it)")
    run_server(storage, host=args.host, port=args.port)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from dse.compare import write_comparison

    out = Path(args.out) if args.out else Path(args.runs[0]).parent / ("compare-" + "-".join(Path(r).name for r in args.runs))
    html, markdown = write_comparison(args.runs, out)
    print(markdown.read_text())
    print(f"-> {html}, {markdown}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="dse", description="Design-space exploration of integer-only RL policies for FPGAs.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = commands.add_parser("train", help="train one policy (QAT or FP32) into a run folder")
    _add_fidelity_options(p)
    _add_single_run_options(p)
    p.add_argument("--width", type=int, default=256, help="hidden width of the policy")
    p.add_argument("--core-bits", type=int, help="b_core: weights and hidden activations (default 8)")
    p.add_argument("--input-bits", type=int, help="b_in: the observation quantizer (default 8)")
    p.add_argument("--output-bits", type=int, help="b_out: the quantizer before tanh (default 8)")
    p.add_argument("--fp32", action="store_true", help="full-precision policy")
    p.add_argument("--scope", choices=SCOPES, help="sensitivity-study shorthand: --bits on this part, 8 elsewhere")
    policy_docs = field_docs(PolicyConfig)
    for name in SCALE_FIELDS:
        default = getattr(PolicyConfig, name)
        p.add_argument(
            _option(name), type=type(default), metavar=name.upper(), help=f"{policy_docs[name]} (default {default})"
        )
    p.add_argument("--bits", type=int, help="bit width for --scope")
    p.add_argument("--seed", type=int, default=0, help="the first seed")
    p.add_argument(
        "--seeds", type=int, default=1, help="train seeds SEED..SEED+SEEDS-1 together in this process (batched)"
    )
    p.add_argument(
        "--out",
        help="run folder (default runs/<env>-<algo>-<config>-s<seed>); with --seeds > 1 the folder of one"
        " seed-<k> run folder per seed (default runs/<env>-<algo>-<config>)",
    )
    p.set_defaults(func=cmd_train)

    p = commands.add_parser("baseline", help="train FP32 policies over seeds and write the FP32 band")
    _add_fidelity_options(p)
    _add_single_run_options(p)
    p.add_argument("--width", type=int, default=256, help="hidden width of the policy")
    p.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1, trained together")
    p.add_argument("--out", help="folder for the seeds' run folders and band.json")
    p.set_defaults(func=cmd_baseline)

    p = commands.add_parser("eval", help="evaluate a run folder's policy deterministically")
    p.add_argument("run", help="a finished run folder")
    p.add_argument("--episodes", type=int, default=1000)
    p.add_argument("--noise", type=float, default=0.0, help="std of Gaussian noise on the normalized observation")
    p.add_argument("--seed", type=int, default=12345, help="seeds the episodes and the noise")
    p.set_defaults(func=cmd_eval)

    p = commands.add_parser("synth", help="FINN dataflow estimate of a run's integer policy -> synth.json")
    _add_synthesis_options(p)
    p.set_defaults(func=cmd_synth)

    p = commands.add_parser("export", help="write a FINN build folder (model, folding, build config) for Vivado")
    _add_synthesis_options(p)
    p.add_argument("--finn", required=True, metavar="OUT", help="folder to write the FINN build into")
    p.set_defaults(func=cmd_export)

    p = commands.add_parser("run", help="search the design space (or run the staged rule): a resumable, Ray-parallel study")
    _add_fidelity_options(p)
    _add_search_options(p)
    _add_execution_options(p)
    _add_early_stop_option(p, "conservative")
    p.set_defaults(func=cmd_run)

    p = commands.add_parser("sweep", help="return against bits of one quantization scope, or against width (Figure-1 style)")
    _add_fidelity_options(p)
    p.add_argument("--scope", choices=SCOPES, help="the part whose bits vary; the others stay at 8 bits")
    p.add_argument("--bits", metavar="LIST", help="bits of --scope, e.g. 2..8")
    p.add_argument("--width", metavar="LIST", default="256", help="one width for --scope, or the widths to sweep (e.g. 256,128,64)")
    p.add_argument("--core-bits", type=int, help="b_core of a width sweep (default 8)")
    p.add_argument("--input-bits", type=int, help="b_in of a width sweep (default 8)")
    p.add_argument("--output-bits", type=int, help="b_out of a width sweep (default 8)")
    _add_execution_options(p)
    _add_early_stop_option(p, "off")  # a sweep measures every point to the end
    p.set_defaults(func=cmd_sweep)

    p = commands.add_parser("report", help="HTML Pareto plots, trials.csv/.parquet and a Markdown summary of a study")
    p.add_argument("run", help="a study folder made by dse run")
    p.set_defaults(func=cmd_report)

    p = commands.add_parser("dashboard", help="serve Optuna's dashboard on a study folder's storage")
    p.add_argument("run", help="a study folder made by dse run")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.set_defaults(func=cmd_dashboard)

    p = commands.add_parser("noise", help="return against observation noise: the selected configuration's seeds vs FP32's")
    p.add_argument("run", help="a study folder made by dse run")
    p.add_argument("--sigma", default="0,0.1,0.2,0.3,0.4,0.5", help="noise std values (default 0,0.1,...,0.5)")
    p.add_argument("--episodes", type=int, default=10, help="episodes per model and sigma (default 10)")
    p.add_argument("--trial", type=int, help="the trial to test (default: the staged pick, else fewest LUTs at parity)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="evaluations at once")
    p.add_argument("--ray-address", help="join this Ray cluster instead of starting Ray locally")
    p.set_defaults(func=cmd_noise)

    p = commands.add_parser("curves", help="learning curves (mean +- std over seeds) of the selected configuration and FP32")
    p.add_argument("run", help="a study folder made by dse run")
    p.add_argument("--trial", type=int, help="the trial to plot (default: the staged pick, else fewest LUTs at parity)")
    p.set_defaults(func=cmd_curves)

    p = commands.add_parser("table", help="per env: the selected configuration and its hardware beside the reference design")
    p.add_argument("runs", nargs="+", help="study folders made by dse run or dse sweep")
    p.add_argument("--out", help="folder for table.md and table.csv (default: next to the first study)")
    p.set_defaults(func=cmd_table)

    p = commands.add_parser("compare", help="studies side by side: hypervolume per trial and per training, fronts, staged pick")
    p.add_argument("runs", nargs="+", help="study folders made by dse run (the same env)")
    p.add_argument("--out", help="folder for compare.html and compare.md (default: next to the first study)")
    p.set_defaults(func=cmd_compare)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (CliError, *USER_ERRORS) as error:
        print(f"dse: error: {error}", file=sys.stderr)
        return 2
    except (FinnFailure, TrainingDiverged) as error:
        print(f"dse: {error}", file=sys.stderr)
        return 1
    except TaskFailed as error:
        print(f"dse: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dse: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
