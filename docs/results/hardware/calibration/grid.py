"""The calibration grid: untrained policies of many shapes and bit widths, folded several ways, synthesized by yosys.

    .venv/bin/python docs/results/hardware/calibration/grid.py [--out runs/hardware-grid] [--designs 200]

Each design is an untrained policy (``training.export.untrained_policy_onnx``: its
shape and bit widths are what decide the hardware) lowered to its integer network,
folded by FINN's SetFolding at a throughput target, generated as RTL, placed within
the XC7A15T and synthesized (``synthesis.yosys``; no simulation: the tests and the
published-shape table check exactness). One JSON record per design goes to
``OUT/records/``: the network, the folding, every ROM (depth, width, varying bits,
placement) and every layer's products, and yosys's cell count. Resumable: a design
whose record exists, in OUT/records/ or in the committed ``grid.jsonl.gz`` beside this
script, is skipped. Designs whose ROMs in logic alone would take more
than twice the device's LUTs, or that the fitted model (``synthesis/hardware_model.json``,
yosys calibration) prices at more than three times them, or that hold a ROM deeper
than ``MAX_ROM_WORDS``, are recorded as skipped, not synthesized: yosys takes many
minutes (or, for the deep ROMs, more than 20) on each.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import random
import time
from pathlib import Path

from synthesis import lower_qonnx, model, rtl, yosys
from synthesis.errors import ToolFailure
from synthesis.estimate import SynthesisSettings, Synthesizer
from synthesis.post_synth import folding_of, generate_rtl
from training.export import untrained_policy_onnx

#: (obs, actions) of the tasks the grid draws from: pendulums to Humanoid
TASKS = [(3, 1), (4, 1), (11, 3), (17, 6), (27, 8), (376, 17)]
WIDTHS = [16, 32, 64, 128, 256]
BITS = [2, 3, 4, 5, 6, 8]
TARGETS = [1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8]
#: yosys's PROC pass spent over 20 minutes on the initial block of a 98,304-word ROM (Humanoid's first layer at
#: PE = SIMD = 1) without finishing; designs with deeper ROMs than this are skipped
MAX_ROM_WORDS = 32_768


def draw(count: int, seed: int = 0) -> list[dict]:
    """``count`` designs: a network and a throughput target each, drawn uniformly from the grid."""
    rng = random.Random(seed)
    designs = []
    for _ in range(count):
        obs, actions = rng.choice(TASKS)
        designs.append({
            "obs": obs, "actions": actions, "width": rng.choice(WIDTHS), "core_bits": rng.choice(BITS),
            "input_bits": rng.choice(BITS), "output_bits": rng.choice(BITS), "target_fps": rng.choice(TARGETS),
        })  # fmt: skip
    return designs


COMMITTED = Path(__file__).with_name("grid.jsonl.gz")


def restore(records: Path) -> None:
    """The committed grid's records into ``records``, so a fresh checkout resumes where the grid was committed."""
    if COMMITTED.exists():
        for line in gzip.open(COMMITTED, "rt"):
            record = json.loads(line)
            path = records / f"{record['name']}.json"
            if not path.exists():
                path.write_text(json.dumps(record, indent=1))


def run(out: Path, count: int) -> None:
    settings = SynthesisSettings()
    part = settings.part
    (out / "records").mkdir(parents=True, exist_ok=True)
    restore(out / "records")
    for design in draw(count):
        name = hashlib.sha256(json.dumps(design, sort_keys=True).encode()).hexdigest()[:12]
        record_path = out / "records" / f"{name}.json"
        if record_path.exists():
            continue
        folder = out / "designs" / name
        folder.mkdir(parents=True, exist_ok=True)
        shape = (design["obs"], design["actions"], design["width"], design["core_bits"], design["input_bits"], design["output_bits"])
        policy = lower_qonnx(untrained_policy_onnx(folder / "policy.onnx", *shape))
        folding = folding_of(Synthesizer(policy, settings).at_target(design["target_fps"]))
        layers = generate_rtl(policy, folding, settings, folder)
        logic_luts = sum(rtl.rom_luts(words, width) for layer in layers
                         for name, (words, width) in layer.roms.items() if name not in layer.block_roms)
        priced = model.price(layers, model.hardware_model(), "yosys").luts if model.MODEL_FILE.exists() else 0
        record = design | {"name": name, "folding": folding, **model.design_record(layers)}
        if logic_luts > 2 * part.luts:
            record |= {"skipped": f"ROMs in logic alone about {logic_luts:,} LUTs"}
        elif priced > 3 * part.luts:
            record |= {"skipped": f"the model prices it at {priced:,.0f} LUTs"}
        elif (deepest := max(len(words) for layer in layers for words, _ in layer.roms.values())) > MAX_ROM_WORDS:
            record |= {"skipped": f"a ROM of {deepest:,} words"}
        else:
            started = time.monotonic()
            try:
                netlist = yosys.synthesize(folder / "policy.v")
            except ToolFailure as error:
                record |= {"failed": str(error)}
            else:
                record |= {"cells": netlist.cells, "luts": netlist.luts, "ffs": netlist.ffs, "bram36": netlist.bram36,
                           "dsps": netlist.dsps, "lut_levels": netlist.lut_levels, "seconds": time.monotonic() - started,
                           "yosys": yosys.version()}
        for bulky in ("policy.v", "yosys/netlist.json", "policy.onnx"):
            (folder / bulky).unlink(missing_ok=True)
        # written whole or not at all: a grid stopped mid-write resumes at this design
        temporary = record_path.with_suffix(".tmp")
        temporary.write_text(json.dumps(record, indent=1))
        temporary.replace(record_path)
        print(f"{name}: {shape} {folding} -> {record.get('luts', record.get('skipped', record.get('failed')))}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/hardware-grid")
    parser.add_argument("--designs", type=int, default=200)
    args = parser.parse_args()
    run(Path(args.out), args.designs)
