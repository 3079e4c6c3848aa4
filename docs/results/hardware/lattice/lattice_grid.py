"""The Lattice calibration grid: small policies folded many ways, placed and routed on an iCE40 UltraPlus and an ECP5.

    .venv/bin/python docs/results/hardware/lattice/lattice_grid.py [--family ice40|ecp5] [--count N] [--out runs/lattice-grid]

Each design is one of the calibration grid's trained policies whose ports fit the part, at
1e4, 1e6 and 1e8 actions/s, or an untrained policy of the pendulum-sized tasks (3 or 4
observations, one action), widths 16 to 64, bit widths 2 to 6, folded by FINN's search at
a throughput target of 1e4 to 1e8 actions/s or fully unrolled, and placed within the part as ``dse
synth --post-synth --device`` places it (its block RAM and multipliers). Its RTL goes
through the open flow (``synthesis.lattice.place_and_route``, no clock asked: the
fastest the design closes at). One JSON record per design goes to ``OUT/FAMILY/``: the
design (``synthesis.features.design_record``), the estimated XC7 path
(``synthesis.timing``) and nextpnr's LUT4s, FFs, block RAMs, multipliers and maximum
frequency. Designs roughly over twice the part (the XC7 yosys price, ``ROUGH_LUT4_PER_LUT6``
LUT4s per LUT) are skipped before routing, so a family's grid holds the designs its part can nearly hold. Resumable: a design whose record exists, there or in the committed
``grid-FAMILY.jsonl.gz`` beside this script, is skipped. ``fit.py`` beside this script
fits and checks the family's model on the records.

The iCE40 UltraPlus has 39 I/O pins and the stream is parallel, so its designs are
drawn among those whose ports (as ``synthesis.lattice_parts.ports`` counts them) fit them.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import random
import sys
from pathlib import Path

from synthesis import features, lower_qonnx, model, rtl, timing
from synthesis.estimate import SynthesisSettings
from synthesis.lattice import place_and_route
from synthesis.lattice_parts import ports, require
from synthesis.post_synth import generate_rtl

sys.path.insert(0, str(Path(__file__).parents[1] / "calibration"))
from grid import TRAINED, folding_of, policy_of, write  # noqa: E402

HERE = Path(__file__).parent
PARTS = {"ice40": "ice40up5k", "ecp5": "lfe5u-25f"}
TARGETS = [1e4, 1e5, 1e6, 1e7, 1e8]
ROUGH_LUT4_PER_LUT6 = 1.6
"""only to skip designs far over the part before routing them: the w16 policy's 1,265-3,505 UP5K cells against its
XC7 yosys price (docs/hardware.md)"""


def designs(family: str, count: int, seed: int = 0) -> list[dict]:
    """``count`` designs drawn for ``family``'s part: the same draws for every run, so a grid resumes."""
    part = require(PARTS[family])
    rng = random.Random(seed)
    found: list[dict] = []
    while len(found) < count:
        design = {"obs": rng.choice([3, 4]), "actions": 1, "width": rng.choice([16, 32, 64]), "core_bits": rng.randint(2, 6),
                  "input_bits": rng.randint(2, 6), "output_bits": rng.randint(2, 6)}  # fmt: skip
        unrolled = design["width"] <= 32 and rng.random() < 0.25  # a 64-wide network unrolled fills several parts
        design |= {"folding": "unrolled"} if unrolled else {"target_fps": rng.choice(TARGETS)}
        pins = design["obs"] * design["input_bits"] + design["actions"] * design["output_bits"] + 6
        if pins <= part.io and design not in found:
            found.append(design)
    return found


def trained(family: str) -> list[dict]:
    """The calibration grid's trained policies (``docs/results/hardware/calibration/trained``) whose ports fit the
    part's pins, at a slow, a fast and the fastest target: trained weights are sparser than drawn ones."""
    part = require(PARTS[family])
    return [{"policy": path.name, "target_fps": target} for path in sorted(TRAINED.glob("*.onnx"))
            if ports(lower_qonnx(path)) <= part.io for target in (1e4, 1e6, 1e8)]  # fmt: skip


def name_of(design: dict, family: str) -> str:
    return hashlib.sha256(json.dumps({**design, "family": family}, sort_keys=True).encode()).hexdigest()[:12]


def committed(family: str) -> Path:
    return HERE / f"grid-{family}.jsonl.gz"


def run(family: str, count: int, out: Path) -> None:
    part = require(PARTS[family])
    records = out / family
    records.mkdir(parents=True, exist_ok=True)
    if committed(family).exists():
        for line in gzip.open(committed(family), "rt"):
            record = json.loads(line)
            if not (records / f"{record['name']}.json").exists():
                write(records / f"{record['name']}.json", record)
    settings = SynthesisSettings(calibration="yosys")
    for design in [*trained(family), *designs(family, count)]:
        name = name_of(design, family)
        if (records / f"{name}.json").exists():
            continue
        folder = out / "designs" / family / name
        folder.mkdir(parents=True, exist_ok=True)
        policy = policy_of(design, folder)
        folding = folding_of(design, policy, settings)
        layers = model.placed(policy, folding, settings, part=part)
        rough = ROUGH_LUT4_PER_LUT6 * model.price(layers, model.hardware_model(), "yosys").luts
        if rough > 2 * part.luts:  # packing alone spends a minute or more on a design several times the part
            print(f"{family} {name}: {folding} skipped, roughly {rough:,.0f} LUT4", flush=True)
            continue
        generate_rtl(policy, folding, settings, folder, part=part)
        placed = place_and_route(folder / "policy.v", part)
        record = design | {
            "name": name, "family": family, "part": part.name, "generator": rtl.GENERATOR_VERSION,
            "folding": [list(pair) for pair in folding], **features.design_record(layers),
            "xc7_path_ns": max(timing.stage_paths(layers).values()), "routed": placed.routed, "luts": placed.luts,
            "ffs": placed.ffs, "block_rams": placed.block_rams, "dsps": placed.dsps, "fmax_mhz": placed.fmax_mhz,
            "target_mhz": placed.target_mhz, "seconds": placed.seconds,
        }  # fmt: skip
        write(records / f"{name}.json", record)
        save(family, records)  # after each design: a grid stopped at any point has its committed file
        print(f"{family} {name}: {folding} -> {placed.luts} LUT4 {placed.ffs} FF, {placed.fmax_mhz} MHz, "
              f"{placed.seconds:.0f} s", flush=True)  # fmt: skip
        for bulky in folder.rglob("*"):
            if bulky.is_file() and bulky.suffix in (".json", ".v", ".onnx", ".bin", ".bit", ".asc", ".config"):
                bulky.unlink()


def save(family: str, records: Path) -> None:
    lines = [json.dumps(json.loads(path.read_text()), sort_keys=True) for path in sorted(records.glob("*.json"))]
    with gzip.open(committed(family), "wt") as file:
        file.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", choices=sorted(PARTS), default="ice40")
    parser.add_argument("--count", type=int, default=40)
    parser.add_argument("--out", type=Path, default=Path("runs/lattice-grid"))
    args = parser.parse_args()
    run(args.family, args.count, args.out)
