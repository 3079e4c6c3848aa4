"""``dse synth`` and ``dse export``: a run's integer policy as an FPGA dataflow, estimated or written as a FINN build."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from dse.cli.options import CliError, add_device_options, positive_int, synthesis_settings
from synthesis import lower_qonnx
from synthesis.lattice_parts import lattice_part
from synthesis.report import nanojoules
from training import read_run


def _synthesizer(args: argparse.Namespace):
    """The run's integer policy and a Synthesizer with the command's settings (imports FINN)."""
    from synthesis.estimate import Synthesizer

    run_dir = Path(args.training)
    config = read_run(run_dir)
    if config["spec"]["policy"]["fp32"]:
        raise CliError(f"{run_dir} holds an FP32 policy; synthesis needs a quantized one (train without --fp32)")
    policy = lower_qonnx(run_dir / "policy.onnx")
    return policy, Synthesizer(policy, synthesis_settings(args), cache_dir=run_dir / "synth-cache")


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


def _latency_fit_mark(report, chosen) -> tuple[str, str, str]:
    """A design row's latency, fit verdict and chosen mark, alike for estimates and synthesized designs."""
    fits = "yes" if report.fits else "no: " + "; ".join(report.over)
    return f"{report.latency_cycles} cy {report.latency_s * 1e6:.2f}us", fits, "  <- chosen" if report is chosen else ""


def _print_designs(designs: list, chosen) -> None:
    if designs:
        print(f"estimate: {designs[0].estimator}")
    lattice = bool(designs) and designs[0].block_rams is not None
    memory, multiplier = ("BRAM", "MULT") if lattice else ("BRAM36", "DSP")
    print(f"{'target/s':>9} {'LUT':>8} {'FF':>8} {memory:>6} {multiplier:>4} {'clock':>9} {'latency':>14} {'actions/s':>12} "
          f"{'energy':>13}  fits")  # fmt: skip
    for report in designs:
        target = "folding" if report.target_fps is None else f"{report.target_fps:.0e}"
        latency, fits, mark = _latency_fit_mark(report, chosen)
        ffs = "-" if report.ffs is None else f"{report.ffs:,}"
        blocks = report.block_rams if lattice else f"{report.bram36:g}"
        print(
            f"{target:>9} {report.luts:>8,} {ffs:>8} {blocks:>6} {report.dsps:>4} {report.clock_mhz:>5.1f} MHz {latency:>14} "
            f"{report.throughput_fps:>12,.0f} {nanojoules(report.energy_per_action_j):>13}  {fits}{mark}"
        )


def _post_synthesis(args: argparse.Namespace, policy, synthesizer, designs: list, chosen, part=None):
    """(reports made, the chosen one or None): the one design asked for, or the sweep's highest that fits; each
    synthesized for the XC7 (``synthesis.post_synth``), or on ``part``, a Lattice part, placed and routed
    (``synthesis.post_route``)."""
    from dse.study.deploy import rollout_observations
    from synthesis.errors import ToolFailure
    from synthesis.post_route import check_pins, post_route
    from synthesis.post_synth import design_name, folding_of, highest_fitting, post_synthesize

    run_dir = Path(args.training)
    if part is not None:
        check_pins(policy, part)
    levels = policy.quantize_input(rollout_observations(run_dir, args.observations))

    def build(report):
        folding = folding_of(report)
        name = design_name(folding)
        where = "" if part is None else f" on {part.name}"
        if part is None:
            print(f"post-synthesis of design {name} (RTL, yosys, Verilator on {len(levels):,} observations) ...", flush=True)
        else:
            print(f"design {name}{where} (RTL, Verilator on {len(levels):,} observations, yosys, nextpnr) ...", flush=True)
        try:
            if part is None:
                return post_synthesize(policy, folding, synthesizer.settings, run_dir / "rtl" / name, levels)
            return post_route(policy, folding, synthesizer.settings, part, run_dir / f"rtl-{part.aliases[0]}" / name,
                              levels, args.clock_mhz)  # fmt: skip
        except ToolFailure as error:
            raise CliError(f"design {name} of {run_dir}{where}: {error}") from None

    if args.folding or args.target_fps is not None:
        report = build(chosen)
        return [report], report
    # targets past the fastest folding repeat the same design: each folding is built once, for its highest target
    distinct = list({tuple(folding_of(report)): report for report in designs}.values())
    return highest_fitting(distinct, build)


def _print_post_synthesis(reports: list, chosen) -> None:
    from synthesis.post_synth import design_name

    print(f"{'design':>16} {'LUT':>7} {'FF':>7} {'BRAM36':>6} {'DSP':>4} {'latency':>16} {'interval':>9} {'energy':>12} {'exact':>11}  fits")
    for report in reports:
        latency, fits, mark = _latency_fit_mark(report, chosen)
        exact = f"{report.observations - report.mismatches}/{report.observations}"
        name = design_name(report.folding)
        print(
            f"{name:>16} {report.luts:>7,} {report.ffs:>7,} {report.bram36:>6g} {report.dsps:>4} {latency:>16} "
            f"{report.initiation_interval:>9,.0f} {nanojoules(report.energy_per_action_j):>12} {exact:>11}  {fits}{mark}"
        )


def _record(path: Path, kind: str, policy, designs: list, chosen, **extra) -> None:
    summary = {"kind": kind, "policy_digest": policy.digest(), **extra, "chosen": chosen.to_dict() if chosen else None}
    path.write_text(json.dumps(summary | {"designs": [report.to_dict() for report in designs]}, indent=2))


def _conclude(chosen, nothing_fits: str, written: str) -> int:
    print(nothing_fits if chosen is None else "\n".join([*(f"note: {note}" for note in chosen.notes), written]))
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    policy, synthesizer = _synthesizer(args)
    part = lattice_part(args.device)
    designs, chosen = _designs(args, synthesizer)
    if part is not None and args.post_synth:
        return _post_route(args, part, policy, synthesizer, designs, chosen)
    run_dir, device = Path(args.training), synthesizer.settings.device
    settings = synthesizer.settings.to_dict()
    if part is not None:  # the family's model: the XC7's synth.json and folding.json are left as they are
        written = run_dir / f"synth-{part.aliases[0]}.json"
        _record(written, "dse-synth", policy, designs, chosen, settings=settings)
        _print_designs(designs, chosen)
        return _conclude(chosen, f"no design fits {part.name}; every target's design is in {written}", f"-> {written}")
    _record(run_dir / "synth.json", "dse-synth", policy, designs, chosen, settings=settings)
    _print_designs(designs, chosen)
    if chosen is not None:
        (run_dir / "folding.json").write_text(json.dumps(chosen.folding(), indent=2))
    if not args.post_synth:
        return _conclude(
            chosen,
            f"no design fits {device}; every target's design is in {run_dir / 'synth.json'}",
            f"-> {run_dir / 'synth.json'}, folding in {run_dir / 'folding.json'}",
        )
    reports, chosen = _post_synthesis(args, policy, synthesizer, designs, chosen)
    print("after synthesis (yosys synth_xilinx; latency and interval measured by Verilator):")
    _print_post_synthesis(reports, chosen)
    _record(run_dir / "post_synth.json", "dse-post-synth", policy, reports, chosen, settings=settings)
    _conclude(
        chosen,
        f"no synthesized design fits {device}; the designs tried are in {run_dir / 'post_synth.json'}",
        f"-> {run_dir / 'post_synth.json'}, RTL in {getattr(chosen, 'rtl_dir', None)}",
    )
    return _exactness(reports)


def _post_route(args: argparse.Namespace, part, policy, synthesizer, designs: list, chosen) -> int:
    """dse synth --post-synth on a Lattice part: each design placed and routed, with a bitstream."""
    reports, chosen = _post_synthesis(args, policy, synthesizer, designs, chosen, part)
    run_dir, short = Path(args.training), part.aliases[0]
    print(f"after place-and-route on {part.name} (nextpnr; latency and interval measured by Verilator):")
    _print_post_route(reports, chosen, part)
    _record(run_dir / f"post_route-{short}.json", "dse-post-route", policy, reports, chosen,
            settings=synthesizer.settings.to_dict(), part=dataclasses.asdict(part), clock_mhz=args.clock_mhz)  # fmt: skip
    _conclude(
        chosen,
        f"no design fits {part.name}; the designs tried are in {run_dir / f'post_route-{short}.json'}",
        f"-> {run_dir / f'post_route-{short}.json'}, bitstream {getattr(chosen, 'bitstream', None)} (how to put it on a "
        f"board: {Path(getattr(chosen, 'rtl_dir', '.')) / short / 'README.md'})",
    )
    return _exactness(reports)


def _print_post_route(reports: list, chosen, part) -> None:
    from synthesis.lattice_parts import FAMILIES
    from synthesis.post_synth import design_name

    print(f"{'design':>16} {FAMILIES[part.family].logic:>11} {'FF':>6} {'BRAM':>4} {'MULT':>4} {'clock':>9} {'Fmax':>9} "
          f"{'latency':>16} {'actions/s':>12} {'exact':>11}  fits")  # fmt: skip
    for report in reports:
        latency, fits, mark = _latency_fit_mark(report, chosen)
        fmax = "-" if report.fmax_mhz is None else f"{report.fmax_mhz:.1f}"
        clock, throughput = f"{report.clock_mhz:.1f}", f"{report.throughput_fps:,.0f}"
        if not report.bitstream:  # not placed: no clock, so latency in cycles only
            clock, latency, throughput = "-", f"{report.latency_cycles} cy", "-"
        exact = f"{report.observations - report.mismatches}/{report.observations}"
        if report.netlist_mismatches is not None:  # and the synthesized netlist's
            exact += f", netlist {report.observations - report.netlist_mismatches}/{report.observations}"
        print(f"{design_name(report.folding):>16} {report.luts:>11,} {report.ffs:>6,} {report.block_rams:>4} "
              f"{report.dsps:>4} {clock:>5} MHz {fmax:>5} MHz {latency:>16} {throughput:>12} {exact:>11}  {fits}{mark}")  # fmt: skip


def _exactness(reports: list) -> int:
    """1 when the RTL of a design (a generator bug) or its synthesized netlist (a synthesis bug) differs from the
    integer forward, said on stderr; else 0."""
    wrong = [report for report in reports if not report.bit_exact]
    for report in wrong:
        name, total = Path(report.rtl_dir).name, report.observations
        if report.mismatches:
            print(f"dse: the RTL of design {name} differs from the integer forward on {report.mismatches} of {total} "
                  f"observations (see {report.rtl_dir}/sim)", file=sys.stderr)  # fmt: skip
        if getattr(report, "netlist_mismatches", None):
            print(f"dse: the synthesized netlist of design {name} differs from the integer forward on "
                  f"{report.netlist_mismatches} of {total} observations: a synthesis bug, do not use its bitstream "
                  f"(see {report.rtl_dir})", file=sys.stderr)  # fmt: skip
    return 1 if wrong else 0


def cmd_export(args: argparse.Namespace) -> int:
    from synthesis.export import write_finn_build

    if lattice_part(args.device) is not None:
        raise CliError(f"--device {args.device}: dse export writes a FINN build for Vivado, which has no Lattice parts; "
                       "dse synth --post-synth --device builds a bitstream with the open flow")  # fmt: skip
    policy, synthesizer = _synthesizer(args)
    _, chosen = _designs(args, synthesizer)
    if chosen is None:
        raise CliError(f"no design of the throughput sweep fits {synthesizer.settings.device}; "
                       "pass --target-fps or --folding to export one anyway")
    out = write_finn_build(policy, chosen, synthesizer.settings, Path(args.training) / "policy.onnx", Path(args.finn))
    print(f"FINN build folder -> {out} (see its README.md)")
    return 0


def _add_synthesis_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("training", help="a finished training folder (dse train) with a quantized policy")
    design = parser.add_mutually_exclusive_group()
    design.add_argument("--target-fps", type=float, help="one throughput target, actions/s (default: sweep 1e2..1e9)")
    design.add_argument("--folding", help="explicit PE/SIMD per layer: a FINN folding JSON file (default: solved per "
                                          "throughput target)")
    add_device_options(parser)


def register(commands) -> None:
    p = commands.add_parser("synth", help="the hardware of a training's integer policy (FINN's folding, the hardware model) -> synth.json")
    _add_synthesis_options(p)
    p.add_argument(
        "--post-synth",
        action="store_true",
        help="also generate the design's RTL, synthesize it (yosys) and simulate it (Verilator) -> post_synth.json, rtl/; "
             "on a Lattice part, place and route it (nextpnr) and pack a bitstream -> post_route-PART.json, rtl-PART/",
    )
    p.add_argument(
        "--observations", type=positive_int, default=1000, help="rollout observations the simulation checks"
    )
    p.set_defaults(func=cmd_synth)

    p = commands.add_parser("export", help="write a FINN build folder (model, folding, build config) for Vivado")
    _add_synthesis_options(p)
    p.add_argument("--finn", required=True, metavar="OUT", help="folder to write the FINN build into")
    p.set_defaults(func=cmd_export)
