"""The calibration grid: policies of many shapes and bit widths, folded many ways, placed and synthesized by yosys.

    .venv/bin/python docs/results/hardware/calibration/grid.py [--out runs/hardware-grid] [--refresh] [--shard K/N]

Four regimes, each a list of designs (a network and a folding):

- ``drawn``: untrained policies drawn uniformly (tasks of 3 to 376 observations,
  widths 16 to 256, bit widths 2, 3, 4, 5, 6 and 8) at a throughput target of 1e2 to 1e8 for
  FINN's folding search: mostly slow foldings;
- ``fast``: untrained policies of widths 16 to 64 on the small tasks at the high
  targets (1e6 to 1e8) and fully unrolled (PE = MH, SIMD = MW): a few cycles per layer;
- ``lut``: products forced into LUTs (``multipliers="lut"``) at every weight and input
  bit width from 2 to 8;
- ``trained``: policies trained here (``trained.sh`` beside this script, QONNX files in
  ``trained/``), with a trained network's sparse, narrow weights, at slow and fast targets.

Each design is lowered to its integer network, folded, placed within the XC7A15T as
``dse synth --post-synth`` places it (``settings.multipliers`` forced where the regime
says), generated as RTL and synthesized (``synthesis.yosys``; no simulation: the tests
check exactness). One JSON record per design goes to ``OUT/records/``: the design
(``synthesis.features.design_record``), yosys's cells and the estimated longest path
(``synthesis.timing``). Records carry the RTL generator's version; a record of another
version is synthesized again. Resumable: a design whose record exists, in OUT/records/
or in the committed ``grid.jsonl.gz`` beside this script, is skipped. ``--refresh``
rewrites every record's design from its network without synthesis (after a change to
``design_record`` that leaves the RTL alone).

Designs whose ROMs in logic alone would take more than twice the device's LUTs, whose
rough size (``SKIP_WEIGHTS``) is over twice the device, or that hold a ROM deeper
than ``MAX_ROM_WORDS`` are recorded as skipped, not synthesized: yosys takes many minutes
(or, for the deep ROMs, more than 20) on each.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import hashlib
import json
import random
import time
from pathlib import Path

from synthesis import features, lower_qonnx, model, placement, rtl, verilog, yosys
from synthesis.errors import ToolFailure
from synthesis.estimate import SynthesisSettings, Synthesizer
from synthesis.lowering import IntegerPolicy
from training.export import untrained_policy_onnx

HERE = Path(__file__).parent
COMMITTED = HERE / "grid.jsonl.gz"
TRAINED = HERE / "trained"

#: (obs, actions) of the tasks the grid draws from: pendulums to Humanoid
TASKS = [(3, 1), (4, 1), (11, 3), (17, 6), (27, 8), (376, 17)]
SMALL_TASKS = TASKS[:5]
WIDTHS = [16, 32, 64, 128, 256]
BITS = [2, 3, 4, 5, 6, 8]
TARGETS = [1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8]
#: yosys's PROC pass spent over 20 minutes on the initial block of a 98,304-word ROM (Humanoid's first layer at
#: PE = SIMD = 1) without finishing; designs with deeper ROMs than this are skipped
MAX_ROM_WORDS = 32_768
#: rough LUTs per unit of each term, only to skip designs far over the device before synthesizing them
SKIP_WEIGHTS = {"rom_logic": 0.5, "product": 0.3, "constant_product": 0.5, "adder": 0.5, "comparator": 1.0, "input_mux": 0.5}


def drawn(count: int = 110, seed: int = 0) -> list[dict]:
    """``count`` designs drawn uniformly from the grid: a network and a throughput target each."""
    rng = random.Random(seed)
    designs = []
    for _ in range(count):
        obs, actions = rng.choice(TASKS)
        designs.append({
            "obs": obs, "actions": actions, "width": rng.choice(WIDTHS), "core_bits": rng.choice(BITS),
            "input_bits": rng.choice(BITS), "output_bits": rng.choice(BITS), "target_fps": rng.choice(TARGETS),
        })  # fmt: skip
    return designs


def fast(count: int = 48, seed: int = 1) -> list[dict]:
    """Widths 16 to 64 on the small tasks at 1e6 to 1e8 actions/s or fully unrolled, every bit width 2 to 8."""
    rng = random.Random(seed)
    designs = []
    for index in range(count):
        obs, actions = rng.choice(SMALL_TASKS)
        design = {"obs": obs, "actions": actions, "width": rng.choice([16, 32, 64]), "core_bits": rng.randint(2, 8),
                  "input_bits": rng.randint(2, 8), "output_bits": rng.randint(2, 8), "regime": "fast"}  # fmt: skip
        designs.append(design | ({"folding": "unrolled"} if index % 3 == 2 else {"target_fps": rng.choice([1e6, 1e7, 1e8])}))
    return designs


def lut(seed: int = 2) -> list[dict]:
    """Products in LUTs at every weight (core) and input bit width 2 to 8: each core width twice, each input width twice."""
    rng = random.Random(seed)
    designs = []
    for core in range(2, 9):
        for input_bits in (core, 10 - core):
            obs, actions = rng.choice(SMALL_TASKS)
            designs.append({"obs": obs, "actions": actions, "width": rng.choice([16, 32, 64]), "core_bits": core,
                            "input_bits": input_bits, "output_bits": rng.randint(2, 8),
                            "target_fps": rng.choice([1e4, 1e5, 1e6]), "multipliers": "lut", "regime": "lut"})  # fmt: skip
    return designs


def trained() -> list[dict]:
    """Every trained policy of ``trained/`` at a slow, a fast and the fastest target."""
    return [{"policy": path.name, "target_fps": target, "regime": "trained"}
            for path in sorted(TRAINED.glob("*.onnx")) for target in (1e4, 1e6, 1e8)]  # fmt: skip


def designs() -> list[dict]:
    """Every regime's designs, the quick ones first."""
    return fast() + lut() + trained() + [design | {"regime": "drawn"} for design in drawn()]


def name_of(design: dict) -> str:
    # the drawn regime's names are those of the grid before regimes (its designs had no regime field)
    key = {key: value for key, value in design.items() if key != "regime" or value != "drawn"}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]


def policy_of(design: dict, folder: Path) -> IntegerPolicy:
    if "policy" in design:
        return lower_qonnx(TRAINED / design["policy"])
    shape = [design[key] for key in ("obs", "actions", "width", "core_bits", "input_bits", "output_bits")]
    return lower_qonnx(untrained_policy_onnx(folder / "policy.onnx", *shape))


def placed(design: dict, folder: Path) -> tuple[IntegerPolicy, list[tuple[int, int]], list[rtl.FoldedLayer]]:
    """The design's policy, folding, and layers placed within the XC7A15T as ``dse synth --post-synth`` places them."""
    settings = SynthesisSettings(calibration="yosys", multipliers=design.get("multipliers", "auto"))
    policy = policy_of(design, folder)
    folding = folding_of(design, policy, settings)
    return policy, folding, model.placed(policy, folding, settings)


def folding_of(design: dict, policy: IntegerPolicy, settings: SynthesisSettings) -> list[tuple[int, int]]:
    """The design's folding: fully unrolled (PE = MH, SIMD = MW), or FINN's search at its throughput target."""
    if design.get("folding") == "unrolled":
        return [tuple(layer.weights.shape) for layer in rtl.fold(policy, [(1, 1)] * len(policy.layers), settings.pad_multiple)]
    return Synthesizer(policy, settings).folding_at(design["target_fps"])


def layers_of(record: dict, folder: Path) -> list[rtl.FoldedLayer]:
    """A record's design placed again from its network and the folding it records, its memories where the record
    has them (a record synthesized before a change to ``placement.place`` keeps the design that was synthesized)."""
    settings = SynthesisSettings(calibration="yosys", multipliers=record.get("multipliers", "auto"))
    layers = model.placed(policy_of(record, folder), [tuple(pair) for pair in record["folding"]], settings)
    block = {(rom["layer"], rom["name"]) for rom in record["roms"] if rom["block"]}
    return [dataclasses.replace(layer, block_roms=frozenset(name for index, name in block if index == layer.index))
            for layer in layers]  # fmt: skip


def skip_reason(layers: list[rtl.FoldedLayer]) -> str | None:
    part = SynthesisSettings().part
    logic_luts = sum(placement.rom_luts(words, width) for layer in layers
                     for name, (words, width) in layer.roms.items() if name not in layer.block_roms)  # fmt: skip
    counts = features.features(features.design_record(layers))
    rough = sum(weight * counts[term] for term, weight in SKIP_WEIGHTS.items())
    deepest = max(len(words) for layer in layers for words, _ in layer.roms.values())
    if logic_luts > 2 * part.luts:
        return f"ROMs in logic alone about {logic_luts:,} LUTs"
    if rough > 2 * part.luts:
        return f"roughly {rough:,.0f} LUTs"
    if deepest > MAX_ROM_WORDS:
        return f"a ROM of {deepest:,} words"
    return None


def synthesize(folder: Path, policy: IntegerPolicy, layers: list[rtl.FoldedLayer]) -> dict:
    (folder / "policy.v").write_text(verilog.verilog(policy, layers))
    started = time.monotonic()
    try:
        netlist = yosys.synthesize(folder / "policy.v")
    except ToolFailure as error:
        return {"failed": str(error)}
    return {"cells": netlist.cells, "luts": netlist.luts, "ffs": netlist.ffs, "bram36": netlist.bram36, "dsps": netlist.dsps,
            "lut_levels": netlist.lut_levels, "critical_path_ns": netlist.timing.delay_ns, "timing_start": netlist.timing.start,
            "timing_end": netlist.timing.end, "seconds": time.monotonic() - started, "yosys": yosys.version()}  # fmt: skip


def write(path: Path, record: dict) -> None:
    """Written whole or not at all: a grid stopped mid-write resumes at this design."""
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(record, indent=1))
    temporary.replace(path)


def restore(records: Path) -> None:
    """The committed grid's records of this generator into ``records``: a fresh checkout resumes where it was committed."""
    if COMMITTED.exists():
        for line in gzip.open(COMMITTED, "rt"):
            record = json.loads(line)
            path = records / f"{record['name']}.json"
            if record.get("generator") == rtl.GENERATOR_VERSION and not path.exists():
                write(path, record)


def run(out: Path, refresh: bool, shard: tuple[int, int] = (0, 1)) -> None:
    """Synthesize (or refresh) every design of ``shard`` (k, n): the designs whose position is k modulo n."""
    (out / "records").mkdir(parents=True, exist_ok=True)
    restore(out / "records")
    for position, design in enumerate(designs()):
        if position % shard[1] != shard[0]:
            continue
        name = name_of(design)
        record_path = out / "records" / f"{name}.json"
        known = json.loads(record_path.read_text()) if record_path.exists() else None
        if known and known.get("generator") == rtl.GENERATOR_VERSION and not refresh:
            continue
        folder = out / "designs" / name
        folder.mkdir(parents=True, exist_ok=True)
        policy, folding, layers = placed(design, folder)
        record = design | {"name": name, "generator": rtl.GENERATOR_VERSION, "folding": folding, **features.design_record(layers)}
        if known and known.get("generator") == rtl.GENERATOR_VERSION:
            outcome = {key: value for key, value in known.items() if key not in record}  # --refresh: keep the synthesis
        else:
            reason = skip_reason(layers)
            outcome = {"skipped": reason} if reason else synthesize(folder, policy, layers)
        record |= outcome
        for bulky in ("policy.v", "yosys/netlist.json", "policy.onnx"):
            (folder / bulky).unlink(missing_ok=True)
        write(record_path, record)
        print(f"{name} {design.get('regime')}: {folding} -> {record.get('luts', record.get('skipped', record.get('failed')))}",
              flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/hardware-grid")
    parser.add_argument("--refresh", action="store_true", help="rewrite every record's design without synthesis")
    parser.add_argument("--shard", default="0/1", help="K/N: only the designs at positions K modulo N (one process per core)")
    args = parser.parse_args()
    index, count = (int(part) for part in args.shard.split("/"))
    run(Path(args.out), args.refresh, (index, count))
