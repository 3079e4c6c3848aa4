"""``dse train``, ``dse baseline`` and ``dse eval``: single trainings and evaluations of run folders.

Every final evaluation runs the policy as deployed (``dse.study.deploy``): the
integer-only network of a quantized policy, the float forward of an FP32 one.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from dse.cli.options import (
    SCALE_FIELDS,
    CliError,
    add_fidelity_options,
    add_renamed,
    check_at_least_one,
    option,
    spec_from_args,
)
from objectives.parity import SPREAD, Fp32Band
from training import SCOPES, PolicyConfig, TrainSpec, evaluation_file, field_docs, read_run, write_eval


def policy_from_args(args: argparse.Namespace) -> PolicyConfig:
    explicit = [n for n in ("core_bits", "input_bits", "output_bits") if getattr(args, n) is not None]
    if args.scope is not None:
        if args.bits is None:
            raise CliError("--scope needs --bits B")
        if explicit or args.fp32:
            raise CliError("--scope/--bits cannot be combined with --core-bits, --input-bits, --output-bits or --fp32")
        policy = PolicyConfig.for_scope(args.scope, args.bits, width=args.width)
    elif args.bits is not None:
        raise CliError("--bits needs --scope all|input|output|core")
    elif args.fp32 and explicit:
        raise CliError("--fp32 cannot be combined with bit widths")
    else:
        policy = PolicyConfig(width=args.width, fp32=args.fp32, **{n: getattr(args, n) for n in explicit})
    scale_settings = {name: getattr(args, name) for name in SCALE_FIELDS if getattr(args, name) is not None}
    return dataclasses.replace(policy, **scale_settings)


def _train_with_progress(
    spec: TrainSpec, seeds: list[int], outs: list[Path], args: argparse.Namespace, label: str, checkpoints: Path
):
    """Train ``spec`` for ``seeds`` together, into ``outs``, with one progress bar; the finished runs.

    The training saves itself into ``checkpoints`` every ``--checkpoint-minutes``;
    the same command run again after it was stopped continues from the last save.
    """
    import torch
    from tqdm import tqdm

    from dse.study.deploy import integer_actor
    from training import train_seeds
    from training.checkpoint import CheckpointFolder, Checkpointing

    check_at_least_one(args, "threads")
    if not args.checkpoint_minutes > 0:
        raise CliError(f"checkpoint-minutes {args.checkpoint_minutes:g} is invalid: it must be above 0")
    torch.set_num_threads(args.threads)
    checkpointing = Checkpointing(checkpoints, every_seconds=args.checkpoint_minutes * 60)
    saves = CheckpointFolder(checkpoints).states()
    if saves and not args.overwrite:
        print(f"resuming {label} from its save at env step {saves[0]:,} ({checkpoints})")
    bars = []  # made at the first report, so input errors print alone

    def on_progress(progress) -> None:
        if not bars:
            bars.append(tqdm(total=spec.total_steps, unit="step", desc=label, disable=args.no_progress, dynamic_ncols=True))
        bar = bars[0]
        bar.update(progress.env_step - bar.n)
        if progress.last_eval_return is not None:
            bar.set_postfix(eval_return=f"{progress.last_eval_return:.1f}", refresh=False)

    try:
        return train_seeds(
            spec, seeds, outs, overwrite=args.overwrite, on_progress=on_progress, deploy=integer_actor,
            checkpointing=checkpointing,
        )
    finally:
        for bar in bars:
            bar.close()


def cmd_train(args: argparse.Namespace) -> int:
    check_at_least_one(args, "seeds")
    policy = policy_from_args(args)
    spec = spec_from_args(args, policy, args.seed)
    seeds = list(range(args.seed, args.seed + args.seeds))
    if args.seeds == 1:
        outs = [Path(args.out or f"runs/{args.env.lower()}-{args.algo}-{policy.label}-s{args.seed}")]
        checkpoints = outs[0].with_name(f"{outs[0].name}.resume")
    else:
        folder = Path(args.out or f"runs/{args.env.lower()}-{args.algo}-{policy.label}")
        outs = [folder / f"seed-{seed}" for seed in seeds]
        checkpoints = folder / "resume"
    for result in _train_with_progress(spec, seeds, outs, args, policy.label, checkpoints):
        print(f"trained {spec.env_id} {spec.algo} {policy.label} seed {result.spec.seed}: "
              f"return {result.mean_return:.1f} over {len(result.returns)} episodes -> {result.run_dir}")
    return 0


def cmd_baseline(args: argparse.Namespace) -> int:
    check_at_least_one(args, "seeds")
    policy = PolicyConfig(width=args.width, fp32=True)
    out = Path(args.out or f"runs/baseline-{args.env.lower()}-{args.algo}")
    seeds = list(range(args.seeds))
    spec = spec_from_args(args, policy, 0)
    results = _train_with_progress(spec, seeds, [out / f"seed-{seed}" for seed in seeds], args, "fp32", out / "resume")
    band = Fp32Band.from_seed_returns([result.mean_return for result in results])
    record = {"env": args.env, "algo": args.algo, "steps": args.steps, **band.to_dict(), "spread": SPREAD}
    (out / "band.json").write_text(json.dumps(record, indent=2))
    print(f"FP32 band of {args.env} ({args.seeds} seeds): {band.mean:.1f} +- {band.std:.1f} ({SPREAD}) -> {out / 'band.json'}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    """An evaluation of its own beside the run's: the training's eval.json and its hash stay as they are."""
    from dse.study.deploy import evaluate_deployed

    check_at_least_one(args, "episodes")
    run_dir = Path(args.training)
    seed = (args.episode_seed, read_run(run_dir)["spec"]["seed"])
    returns, forward = evaluate_deployed(run_dir, args.episodes, seed, args.noise)
    name = evaluation_file(args.episodes, args.episode_seed, args.noise)
    path = write_eval(run_dir, name, returns, noise_sigma=args.noise, seed=seed, forward=forward)
    print(f"return {returns.mean():.1f} +- {returns.std():.1f} over {args.episodes} episodes (noise {args.noise:g}, "
          f"{forward}) -> {path}")
    return 0


def _add_single_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--checkpoint-minutes", type=float, default=10.0,
                        help="save the training at least every M minutes (beside the training folder, as "
                             "TRAINING.resume, or resume/ in a folder of seeds); the same command run again continues "
                             "from the last save")


def _add_train_parser(commands) -> None:
    p = commands.add_parser("train", help="train one policy (QAT or FP32) into a training folder")
    add_fidelity_options(p)
    _add_single_run_options(p)
    policy = p.add_argument_group("policy: the network trained")
    policy.add_argument("--width", type=int, default=256, help="hidden width of the policy")
    policy.add_argument("--core-bits", type=int, help="b_core: weights and hidden activations (default: 8)")
    policy.add_argument("--input-bits", type=int, help="b_in: the observation quantizer (default: 8)")
    policy.add_argument("--output-bits", type=int, help="b_out: the quantizer before tanh (default: 8)")
    policy.add_argument("--fp32", action="store_true", help="full-precision policy")
    policy.add_argument("--scope", choices=SCOPES,
                        help="sensitivity-study shorthand: --bits on this part, 8 elsewhere (default: none)")
    policy_docs = field_docs(PolicyConfig)
    for name in SCALE_FIELDS:
        default = getattr(PolicyConfig, name)
        policy.add_argument(option(name), type=type(default), metavar=name.upper(),
                            help=f"{policy_docs[name]} (default: {default})".replace("%", "%%"))
    policy.add_argument("--bits", type=int, help="bit width for --scope (default: none)")
    p.add_argument("--seed", type=int, default=0, help="the first training seed")
    p.add_argument("--seeds", type=int, default=1, help="train seeds SEED..SEED+SEEDS-1 together in this process (batched)")
    p.add_argument(
        "--out",
        help="training folder (default: runs/<env>-<algo>-<config>-s<seed>); with --seeds > 1 the folder of one"
        " seed-<k> training folder per seed (default: runs/<env>-<algo>-<config>)",
    )
    p.set_defaults(func=cmd_train)


def register(commands) -> None:
    _add_train_parser(commands)

    p = commands.add_parser("baseline", help="train FP32 policies over seeds and write the FP32 band")
    add_fidelity_options(p)
    _add_single_run_options(p)
    p.add_argument("--width", type=int, default=256, help="hidden width of the policy")
    p.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1, trained together")
    p.add_argument("--out", help="folder for the seeds' training folders and band.json (default: "
                                 "runs/baseline-<env>-<algo>)")
    p.set_defaults(func=cmd_baseline)

    p = commands.add_parser("eval", help="evaluate a training's deployed policy (kept beside the training's eval.json)")
    p.add_argument("training", help="a finished training folder (dse train)")
    p.add_argument("--episodes", type=int, default=1000, help="episodes to evaluate")
    p.add_argument("--noise", type=float, default=0.0, help="std of Gaussian noise on the normalized observation")
    p.add_argument("--episode-seed", type=int, default=12345,
                   help="with the training's own seed, seeds the episodes and the noise")
    add_renamed(p, "--seed", "--episode-seed", "episode_seed", type=int)
    p.set_defaults(func=cmd_eval)
