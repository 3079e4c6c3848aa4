"""How the hardware model is fitted and checked: the grid's regimes and errors, the vivado calibration, the power model.

Used by ``docs/results/hardware/calibration/fit.py`` (which writes ``hardware_model.json``),
by ``docs/results/hardware/published.py`` (leave-one-out over the published designs) and
by the tests, so that what is committed, what is reported and what is tested are fitted
the same way.

- The grid (``docs/results/hardware/calibration/grid.jsonl.gz``): synthesized designs as
  ``synthesis.features.design_record`` plus yosys's counts. The yosys coefficients are
  fitted (non-negative, on relative error) on every design but every fourth by its name's
  hash (``held_out``), which measures them, per regime (``regimes``).
- The published designs (``synthesis/published_designs.json``): the vivado calibration
  (``vivado_fit``: block-RAM threshold, LUTs per stream-buffer bit, FF factor) and the power
  model (``power_fit``) are fitted to them; a caller leaving one out fits on the others.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import nnls

from synthesis import features, finn_build, model, rtl
from synthesis.devices import DEFAULT_DEVICE, device
from synthesis.estimate import SynthesisSettings, Synthesizer
from synthesis.lowering import IntegerPolicy

PUBLISHED = model.published_designs()
#: the published designs' latency is FINN's folding at this target (243 us at 100 MHz)
PUBLISHED_TARGET = 1e4
#: a design whose slowest layer takes at most this many cycles runs at 1e6 actions/s or more at 100 MHz
FAST_CYCLES = 100
CLOCK_MHZ = 100.0
PART = device(DEFAULT_DEVICE)


def held_out(name: str) -> bool:
    return int(name, 16) % 4 == 0


def regimes(record: dict) -> list[str]:
    """The regimes a grid design belongs to: its folding's speed, where its products are, whether it was trained."""
    cycles = [layer["cycles"] for layer in record["layers"]]
    speed = "fully unrolled" if max(cycles) == 1 else "fast" if max(cycles) <= FAST_CYCLES else "slow folded"
    on_dsp = sum(layer["dsp_products"] for layer in record["layers"])
    products = sum(layer["live_products"] for layer in record["layers"])
    where = "LUT products" if on_dsp == 0 else "DSP products" if on_dsp == products else "DSP and LUT products"
    found = [speed, where, "trained" if record.get("regime") == "trained" else "untrained"]
    return found + (["fast (unrolled included)"] if speed != "slow folded" else [])


def relative_nnls(matrix: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Non-negative x minimizing the relative error of matrix @ x against values."""
    coefficients, _ = nnls(matrix / values[:, None], np.ones(len(values)))
    return coefficients


def fit_terms(records: list[dict], terms: tuple[str, ...], target: str) -> dict[str, float]:
    """Non-negative coefficients of ``terms`` for the ``target`` count (luts or ffs) of grid records, on relative error."""
    matrix = np.array([[counts[term] for term in terms] for counts in map(features.features, records)])
    values = np.array([record[target] for record in records], dtype=float)
    return dict(zip(terms, relative_nnls(matrix, values).tolist()))


def predict(record: dict, coefficients: dict[str, float]) -> float:
    counts = features.features(record)
    return sum(coefficients[term] * counts[term] for term in coefficients)


def errors(ratios: list[float], names: list[str]) -> dict:
    """Median and worst factor (max(r, 1/r)) of estimate/truth ratios, and the worst design."""
    ratios = np.array(ratios, dtype=float)
    spread = np.maximum(ratios, 1 / ratios)
    worst = int(np.argmax(spread))
    return {"designs": len(ratios), "median_ratio": float(np.median(ratios)), "median_factor": float(np.median(spread)),
            "worst_factor": float(spread[worst]), "worst_design": names[worst], "worst_ratio": float(ratios[worst])}  # fmt: skip


def grid_errors(records: list[dict], luts: dict, ffs: dict) -> dict:
    """Errors of the yosys coefficients on ``records`` by regime: {regime: {"luts": ..., "ffs": ...}}."""
    by_regime: dict[str, list[dict]] = {"all": records}
    for record in records:
        for regime in regimes(record):
            by_regime.setdefault(regime, []).append(record)
    names = lambda group: [record["name"] for record in group]  # noqa: E731
    return {regime: {target: errors([predict(record, coefficients) / record[target] for record in group], names(group))
                     for target, coefficients in (("luts", luts), ("ffs", ffs))}
            for regime, group in by_regime.items()}  # fmt: skip


def published_layers(policies: dict[str, IntegerPolicy]) -> dict[str, list[rtl.FoldedLayer]]:
    """Each published design's policy at the folding of its published latency (FINN's at 1e4 actions/s), placed."""
    settings = SynthesisSettings()
    return {name: model.placed(policy, Synthesizer(policy, settings).folding_at(PUBLISHED_TARGET), settings)
            for name, policy in policies.items()}  # fmt: skip


def bram_threshold(names: list[str], found: dict[str, list[finn_build.Memory]], layers: dict[str, list]) -> float:
    """The block-RAM threshold (bits) under which a FINN build of each named published design has its published BRAM36.

    Every threshold between two neighbouring memory sizes places the same memories; of the
    sizes that reproduce the most designs, the geometric middle of their range.
    """
    sizes = sorted({memory.depth * memory.width for name in names for memory in found[name]})
    bram36 = PART.bram36

    def matched(threshold: int) -> int:
        return sum(sum(finn_build.place(found[name], len(layers[name]), bram36, threshold).ramb18) / 2 == PUBLISHED[name]["bram36"]
                   for name in names)  # fmt: skip

    scores = {size: matched(size) for size in sizes}
    best = [size for size in sizes if scores[size] == max(scores.values())]
    below = [size for size in sizes if size < best[0]]
    return float(np.sqrt(((below[-1] + 1) if below else 1) * best[-1]))


def finn_counts(layers: list[rtl.FoldedLayer], luts: dict, ffs: dict, bram_min_bits: float) -> tuple[float, float, float, float]:
    """A FINN build of ``layers`` under the yosys coefficients: LUTs before stream buffers, stream bits, FFs, BRAM36."""
    calibration = model.Calibration("finn", 0.0, bram_min_bits, 1.0, "")  # LUTs before stream buffers
    built = model.build(layers, calibration, PART.bram36)
    base = sum(luts[term] * count[term] for count in built.counts for term in features.LUT_TERMS)
    flip_flops = sum(ffs[term] * count[term] for count in built.counts for term in features.FF_TERMS)
    return base, sum(built.stream_bits), flip_flops, sum(built.ramb18) / 2


def vivado_fit(names: list[str], layers: dict[str, list], luts: dict, ffs: dict) -> dict:
    """The vivado calibration fitted to the named published designs: BRAM threshold, LUTs per stream bit, FF factor."""
    found = {name: finn_build.memories(layers[name]) for name in names}
    threshold = bram_threshold(names, found, layers)
    counts = {name: finn_counts(layers[name], luts, ffs, threshold) for name in names}
    base = np.array([counts[name][0] for name in names])
    stream = np.array([counts[name][1] for name in names])
    published_luts = np.array([PUBLISHED[name]["luts"] for name in names], dtype=float)
    # the non-negative b minimizing the relative error of base + b * stream against the published LUTs
    per_bit, _ = nnls((stream / published_luts)[:, None], 1 - base / published_luts)
    ratios = np.array([counts[name][2] / PUBLISHED[name]["ffs"] for name in names])
    return {"build": "finn", "stream_luts_per_bit": float(per_bit[0]), "bram_min_bits": threshold,
            "ff_factor": 1 / float(np.sqrt(ratios.min() * ratios.max()))}


def power_fit(names: list[str]) -> dict[str, float]:
    """Dynamic watts per MHz per LUT or FF ("logic") on the named designs' published counts, static power the device's.

    Block RAM and DSPs get no term: ``power_identifiability`` shows the published designs cannot tell their power apart.
    """
    static = PART.static_w
    logic = np.array([[(PUBLISHED[n]["luts"] + PUBLISHED[n]["ffs"]) * CLOCK_MHZ] for n in names])
    total = np.array([PUBLISHED[n]["power_w"] for n in names])
    coefficient, _ = nnls(logic / total[:, None], (total - static) / total)
    return {"logic": float(coefficient[0])}


def power_of(counts: dict, coefficients: dict[str, float]) -> float:
    """Watts of a design of ``counts`` (luts, ffs) on the XC7A15T at 100 MHz under ``coefficients``."""
    return PART.static_w + CLOCK_MHZ * (counts["luts"] + counts["ffs"]) * coefficients["logic"]


def power_identifiability(names: list[str]) -> dict:
    """The checks behind ``power_fit``'s form: a free static intercept, and BRAM36 and DSP terms, each left one out.

    Per fit: its coefficients on all designs, their range over the leave-one-out fits, and the worst leave-one-out ratio.
    """
    columns = {"static": lambda n: 1.0, "logic": lambda n: (PUBLISHED[n]["luts"] + PUBLISHED[n]["ffs"]) * CLOCK_MHZ,
               "bram36": lambda n: PUBLISHED[n]["bram36"] * CLOCK_MHZ, "dsp": lambda n: PUBLISHED[n]["dsps"] * CLOCK_MHZ}  # fmt: skip
    static = PART.static_w
    checks = {}
    for label, terms, offset in (("intercept", ("static", "logic"), 0.0), ("bram and dsp", ("logic", "bram36", "dsp"), static),
                                 ("logic only", ("logic",), static)):  # fmt: skip
        def solve(subset):
            matrix = np.array([[columns[term](n) for term in terms] for n in subset])
            total = np.array([PUBLISHED[n]["power_w"] for n in subset])
            return nnls(matrix / total[:, None], (total - offset) / total)[0]

        fits = {n: solve([m for m in names if m != n]) for n in names}
        ratios = [(offset + sum(columns[term](n) * value for term, value in zip(terms, fits[n]))) / PUBLISHED[n]["power_w"]
                  for n in names]  # fmt: skip
        checks[label] = {"coefficients": dict(zip(terms, solve(names).tolist())),
                         "left_out_range": {term: [float(min(f[i] for f in fits.values())), float(max(f[i] for f in fits.values()))]
                                            for i, term in enumerate(terms)},
                         "worst_left_out_factor": float(max(max(ratios), 1 / min(ratios)))}  # fmt: skip
    return checks
