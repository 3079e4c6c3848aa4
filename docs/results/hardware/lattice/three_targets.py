"""A study's Pareto designs on three targets: its own device as the study priced them (the XC7A15T in the
quickstart), and the ECP5 and the iCE40 UltraPlus after place-and-route, each beside its family's fast-model estimate.

    .venv/bin/python docs/results/hardware/lattice/three_targets.py RUN [--observations 300] [--out three-targets.md]

Every design of RUN's front (its trained policy at its folding) goes through the open flow on
each Lattice part at the fastest clock it closes at (``synthesis.post_route``; its RTL,
bitstream and logs in the policy's ``rtl-PART/`` folder), simulated by Verilator on the
policy's own rollout observations. A design whose ports outnumber the part's pins is
listed as such. The same design priced by the family's fitted model
(``synthesis.lattice_model``) stands beside each: the trained policies are not in the
families' grids, so those ratios measure the model where it was not fitted.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dse.reports.run_data import load_run
from dse.storage.run_folder import open_run_study
from dse.study.deploy import rollout_observations
from synthesis import lower_qonnx
from synthesis.errors import SynthesisInputError
from synthesis.estimate import SynthesisSettings, Synthesizer
from synthesis.lattice_parts import require
from synthesis.post_route import check_pins, post_route
from synthesis.post_synth import design_name

PARTS = ("lfe5u-25f", "ice40up5k")


def routed(policy, policy_dir: Path, folding: list[tuple[int, int]], name: str, levels) -> dict:
    """Per part: the routed figures and the family model's estimate of the same design, or why it cannot be built."""
    found = {}
    for short in PARTS:
        part = require(short)
        settings = SynthesisSettings(lattice=short, clock_mhz=None)
        try:
            check_pins(policy, part)
        except SynthesisInputError:
            found[short] = {"pins": "too few"}
            continue
        synthesizer = Synthesizer(policy, settings)
        estimate = synthesizer.with_folding({layer: {"PE": pe, "SIMD": simd}
                                             for layer, (pe, simd) in zip(synthesizer.layer_shapes(), folding)})  # fmt: skip
        report = post_route(policy, folding, settings, part, policy_dir / f"rtl-{short}" / name, levels, None)
        found[short] = {"luts": report.luts, "ffs": report.ffs, "block_rams": report.block_rams, "dsps": report.dsps,
                        "fits": report.fits, "over": report.over, "clock_mhz": report.clock_mhz,
                        "fmax_mhz": report.fmax_mhz, "latency_s": report.latency_s, "throughput_fps": report.throughput_fps,
                        "bit_exact": report.bit_exact, "seconds": report.seconds, "estimate_luts": estimate.luts,
                        "estimate_ffs": estimate.ffs, "estimate_mhz": estimate.clock_mhz}  # fmt: skip
        print(f"  {short}: {report.luts} LUT4, {report.fmax_mhz} MHz, {report.seconds:.0f} s", flush=True)
    return found


def rows(run_dir: Path, observations: int) -> list[dict]:
    run = load_run(run_dir)
    trials = {trial.number: trial for trial in open_run_study(run_dir).get_trials(deepcopy=False)}
    found = []
    for _, design in run.front.sort_values("luts").iterrows():
        policy_dir = Path(trials[int(design["number"])].user_attrs["policy_dir"])
        policy = lower_qonnx(policy_dir / "policy.onnx")
        folding = [tuple(pair) for pair in design["folding"]]
        name = design_name(folding)
        print(f"trial {design['number']} {name}", flush=True)
        levels = policy.quantize_input(rollout_observations(policy_dir, observations))
        found.append({"number": int(design["number"]), "candidate": f"w{design['width']}-c{design['core_bits']}-"
                      f"i{design['input_bits']}-o{design['output_bits']}", "design": name,
                      "mean_return": design["mean_return"], "xc7": {"luts": design["luts"], "latency_s": design["latency_s"],
                      "energy_j": design["energy_j"], "throughput_fps": design["throughput_fps"]},
                      **routed(policy, policy_dir, folding, name, levels)})  # fmt: skip
    return found


def _cell(figures: dict) -> str:
    if "pins" in figures:
        return "needs more pins than the package has"
    if not figures["fits"]:
        return f"does not fit: {'; '.join(figures['over'])}"
    return (f"{figures['luts']:,} ({figures['estimate_luts']:,}) LUT4, {figures['block_rams']} BRAM, {figures['dsps']} MULT, "
            f"{figures['clock_mhz']:.1f} ({figures['estimate_mhz']:.1f}) MHz, {figures['latency_s'] * 1e6:.2f} us")


def markdown(found: list[dict]) -> str:
    lines = ["| trial | candidate | design (PE x SIMD) | return | the study's estimate | LFE5U-25F (routed; model) | "
             "iCE40UP5K (routed; model) |", "|---|---|---|---|---|---|---|"]
    for row in found:
        xc7 = row["xc7"]
        energy = "" if xc7["energy_j"] is None or xc7["energy_j"] != xc7["energy_j"] else f", {xc7['energy_j'] * 1e9:,.1f} nJ"
        lines.append(f"| {row['number']} | {row['candidate']} | {row['design']} | {row['mean_return']:.1f} | "
                     f"{xc7['luts']:,} LUT, {xc7['latency_s'] * 1e6:.2f} us{energy} | "
                     f"{_cell(row['lfe5u-25f'])} | {_cell(row['ice40up5k'])} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--observations", type=int, default=300)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("three-targets.md"))
    args = parser.parse_args()
    found = rows(args.run, args.observations)
    args.out.with_suffix(".json").write_text(json.dumps(found, indent=1) + "\n")
    args.out.write_text(markdown(found))
    print(f"-> {args.out}")
