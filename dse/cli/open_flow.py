"""``dse synth RUN --post-synth --device lfe5u-25f`` (or another Lattice part): the designs placed and routed by the
open flow (``synthesis.post_route``), with nextpnr's resources and timing and a bitstream per design."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from dse.cli.options import CliError
from synthesis.lattice import LatticePart


def lattice_synth(args: argparse.Namespace, part: LatticePart, policy, synthesizer) -> int:
    """The throughput targets' foldings (solved as for the XC7A15T), each placed within ``part``, simulated, placed
    and routed; of the sweep, the highest that fits the part and meets its clock (``highest_fitting``)."""
    from dse.study.deploy import rollout_observations
    from synthesis.errors import ToolFailure
    from synthesis.estimate import read_folding
    from synthesis.post_route import check_pins, post_route
    from synthesis.post_synth import design_name, folding_of, highest_fitting

    if not args.post_synth:
        raise CliError(f"--device {args.device} is placed and routed, not estimated: add --post-synth (the hardware "
                       "model is fitted to 7-series parts only)")  # fmt: skip
    run_dir = Path(args.training)
    check_pins(policy, part)
    levels = policy.quantize_input(rollout_observations(run_dir, args.observations))

    def route(folding):
        name = design_name(folding)
        print(f"design {name} on {part.name} (RTL, Verilator on {len(levels):,} observations, yosys, nextpnr) ...",
              flush=True)  # fmt: skip
        try:
            return post_route(policy, folding, synthesizer.settings, part, run_dir / f"rtl-{part.aliases[0]}" / name,
                              levels, args.clock_mhz)  # fmt: skip
        except ToolFailure as error:
            raise CliError(f"design {name} of {run_dir} on {part.name}: {error}") from None

    if args.folding or args.target_fps is not None:
        design = synthesizer.with_folding(read_folding(args.folding)) if args.folding else synthesizer.at_target(args.target_fps)
        chosen = route(folding_of(design))
        reports = [chosen]
    else:
        designs, _ = synthesizer.sweep()
        # targets past the fastest folding repeat the same design: each folding is routed once, for its highest target
        distinct = list({tuple(folding_of(report)): folding_of(report) for report in designs}.values())
        reports, chosen = highest_fitting(distinct, route)
    _print(reports, chosen, part)
    record = {"kind": "dse-post-route", "policy_digest": policy.digest(), "part": dataclasses.asdict(part),
              "settings": dataclasses.asdict(synthesizer.settings), "clock_mhz": args.clock_mhz,
              "chosen": chosen.to_dict() if chosen else None, "designs": [report.to_dict() for report in reports]}  # fmt: skip
    (run_dir / f"post_route-{part.aliases[0]}.json").write_text(json.dumps(record, indent=2))
    if chosen is None:
        print(f"no design fits {part.name}; the designs tried are in {run_dir / f'post_route-{part.aliases[0]}.json'}")
    else:
        print(f"-> {run_dir / f'post_route-{part.aliases[0]}.json'}, bitstream {chosen.bitstream} "
              f"(how to put it on a board: {Path(chosen.rtl_dir) / part.aliases[0] / 'README.md'})")  # fmt: skip
    wrong = [report for report in reports if not report.bit_exact]
    for report in wrong:  # a generator bug: the RTL must compute the integer forward exactly
        print(f"dse: the RTL of design {Path(report.rtl_dir).name} differs from the integer forward on "
              f"{report.mismatches} of {report.observations} observations (see {report.rtl_dir}/sim)")
    return 1 if wrong else 0


def _print(reports: list, chosen, part: LatticePart) -> None:
    from synthesis.lattice import FAMILIES
    from synthesis.post_synth import design_name

    logic = FAMILIES[part.family].logic
    print(f"after place-and-route on {part.name} (nextpnr; latency and interval measured by Verilator; energy not "
          "estimated):")  # fmt: skip
    print(f"{'design':>16} {logic:>11} {'FF':>6} {'BRAM':>4} {'MULT':>4} {'clock':>9} {'fmax':>9} {'latency':>16} "
          f"{'actions/s':>12} {'exact':>11}  fits")  # fmt: skip
    for report in reports:
        fmax = "-" if report.fmax_mhz is None else f"{report.fmax_mhz:.1f}"
        exact = f"{report.observations - report.mismatches}/{report.observations}"
        fits = "yes" if report.fits else "no: " + "; ".join(report.over)
        mark = "  <- chosen" if report is chosen else ""
        print(f"{design_name(report.folding):>16} {report.luts:>11,} {report.ffs:>6,} {report.block_rams:>4} "
              f"{report.dsps:>4} {report.clock_mhz:>5.1f} MHz {fmax:>5} MHz "
              f"{report.latency_cycles:>5} cy {report.latency_s * 1e6:>6.2f}us {report.throughput_fps:>12,.0f} "
              f"{exact:>11}  {fits}{mark}")  # fmt: skip
