"""A FINN build of a folded policy as the published designs were built: what the ``vivado`` calibration prices.

The published designs are FINN dataflows (HLS matrix-vector units) built by Vivado on
the XC7A15T. What such a build holds that this project's RTL holds otherwise, each
with where it comes from:

- **Weight memories per PE.** finn-hlslib's MVAU partitions its weights by PE: each
  PE reads its own memory of ``NF * SF`` words of ``SIMD * weight_bits``.
- **Threshold memories and comparators of hidden layers.** finn-hlslib's
  ``ThresholdsActivation`` partitions its thresholds by PE and by threshold step and
  compares the accumulator with every step at once: per PE, ``2^b - 1`` memories of
  ``NF`` accumulator-wide words and ``2^b - 1`` comparators (this RTL: ``b`` of each,
  a binary search).
- **No thresholds on the last layer.** Its accumulator streams out, and the output
  quantizer joins the tanh lookup outside the counted part (the paper counts
  neither). The published figures leave no room for them: walker2d-128-2-3-8's last
  layer would take 255 memories of 32 words and 255 comparators of 11 bits, at least
  2.8k LUTs, where the whole design was built in 1.9k; and its 2 BRAM36 are its
  weights' alone.
- **Memory placement.** Vivado puts a memory of at least ``Calibration.bram_min_bits``
  bits in block RAM, the greatest LUT savings per RAMB18 first, while the device has
  RAMB18s left; the others become LUTs (LUTRAM or logic). The threshold is fitted to the
  published designs' BRAM36 counts (25, 25, 25, 25, 25, 15 and 2: the middle of the range
  of thresholds that reproduces them), and checked leave-one-out in
  ``docs/results/hardware/published.md``.
- **Stream buffers.** Between layers a FINN build buffers each MVAU's output stream
  in FIFOs (sized by FINN's simulation of the built RTL) and width converters, built of
  LUTs, where this RTL hands the whole vector over in one register; the LUTs per bit of
  each layer's output vector (``Calibration.stream_luts_per_bit``) are fitted to the
  published designs. Of the forms tried leave-one-out on them (each layer's output
  vector; its input and output vectors; its stream widths; a constant per layer), the
  output vector predicts best (worst factor 1.34 against 1.42, 1.55 and 2.0) and is the
  only one under which the published Humanoid design fits.

Products, adder trees, accumulators, the input multiplexer and control are this
RTL's, priced by the yosys-fitted terms: the fabric is the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synthesis import placement, rtl
from synthesis.memory import ramb18_count

@dataclass(frozen=True)
class Memory:
    """One memory of a FINN build: the layer it belongs to, its size, and what synthesis keeps of it as logic."""

    layer: int
    depth: int
    width: int
    live_bits: int
    """bits that vary between its words"""
    live_words: int
    """words other than its most common one"""
    kind: str = "weights"
    """what the memory holds: "weights" or "thresholds" (of a hidden layer)"""
    forced: str = "auto"
    """"block" or "logic" where the user forced a weight memory there (``FoldedLayer.weight_placement``)"""

    @property
    def logic_luts(self) -> int:
        """The ``rom_logic`` count of the memory as LUTs (``synthesis.features``)."""
        return placement.logic_luts(self.live_bits, self.live_words)

    @property
    def ramb18(self) -> int:
        return ramb18_count(self.depth, self.live_bits) if self.live_bits else 0


def _varying_bits(columns: np.ndarray, width: int) -> np.ndarray:
    """Per column of ``columns`` (words down axis 0), the bits of ``width`` that differ from its first word."""
    varying = np.bitwise_or.reduce((columns ^ columns[:1]) & ((1 << width) - 1), axis=0)
    return np.array([bin(int(value)).count("1") for value in np.ravel(varying)]).reshape(varying.shape)


def _uncommon_words(columns: np.ndarray) -> np.ndarray:
    """Per column (words down axis 0), the words other than its most common one."""
    ordered = np.sort(columns, axis=0)
    depth = len(ordered)
    counts = np.ones(ordered.shape[1:], dtype=int)
    run = np.ones(ordered.shape[1:], dtype=int)
    for index in range(1, depth):
        run = np.where(ordered[index] == ordered[index - 1], run + 1, 1)
        counts = np.maximum(counts, run)
    return depth - counts


def memories(layers: list[rtl.FoldedLayer]) -> list[Memory]:
    """Every memory of the FINN build: per PE a weight memory, and per PE and threshold step of a hidden layer one more."""
    found = []
    for layer in layers:
        weights = layer.folded_weights().transpose(0, 2, 1, 3).reshape(layer.cycles, layer.pe, layer.simd)
        bits = _varying_bits(weights, layer.weight_bits).sum(axis=1)
        for lane in range(layer.pe):
            common = np.unique(weights[:, lane, :], axis=0, return_counts=True)[1].max()
            found.append(Memory(layer.index, layer.cycles, layer.simd * layer.weight_bits, int(bits[lane]),
                                layer.cycles - int(common), "weights", layer.weight_placement))  # fmt: skip
        if layer.index == len(layers) - 1:
            continue
        thresholds = layer.thresholds.reshape(layer.neuron_folds, layer.pe, -1)
        acc = layer.accumulator_bits
        varying, uncommon = _varying_bits(thresholds, acc), _uncommon_words(thresholds)
        found += [Memory(layer.index, layer.neuron_folds, acc, int(live), int(words), "thresholds")
                  for live, words in zip(varying.ravel(), uncommon.ravel())]  # fmt: skip
    return found


@dataclass(frozen=True)
class Placement:
    """Where Vivado puts a FINN build's memories, per layer."""

    ramb18: list[int]
    """RAMB18s of the layer's memories in block RAM"""
    logic: list[float]
    """the ``rom_logic`` count of the layer's memories left in LUTs"""
    weights: list[str]
    """"block" or "distributed": where most of the layer's weight bits are"""
    thresholds: list[str]
    """"block" or "distributed": where most of the layer's threshold bits are (a last layer has none: "distributed")"""


def place(found: list[Memory], layers: int, bram36: int, min_bits: float) -> Placement:
    """Where Vivado puts the memories of a FINN build of ``layers`` layers within ``bram36``.

    Memories of at least ``min_bits`` bits go to block RAM, the greatest LUT savings per RAMB18 first, while ``bram36``
    lasts; the others are LUTs. A memory forced to block RAM goes there whatever the budget, one forced to logic stays.
    """
    in_block = [memory.forced == "block" for memory in found]
    free = 2 * bram36 - sum(memory.ramb18 for memory in found if memory.forced == "block")
    candidates = sorted(((memory.logic_luts / memory.ramb18, index) for index, memory in enumerate(found)
                         if memory.forced == "auto" and memory.depth * memory.width >= min_bits and memory.ramb18), reverse=True)  # fmt: skip
    for _, index in candidates:
        if found[index].ramb18 <= free:
            free -= found[index].ramb18
            in_block[index] = True
    blocks, logic = [0] * layers, [0.0] * layers
    bits = {(layer, kind, block): 0 for layer in range(layers) for kind in ("weights", "thresholds") for block in (True, False)}
    for memory, block in zip(found, in_block):
        if block:
            blocks[memory.layer] += memory.ramb18
        else:
            logic[memory.layer] += memory.logic_luts
        bits[memory.layer, memory.kind, block] += memory.depth * memory.width
    style = lambda layer, kind: "block" if bits[layer, kind, True] > bits[layer, kind, False] else "distributed"  # noqa: E731
    return Placement(blocks, logic, [style(layer, "weights") for layer in range(layers)],
                     [style(layer, "thresholds") for layer in range(layers)])  # fmt: skip


def comparator_bits(layer: rtl.FoldedLayer, live_lanes: int, last: bool) -> int:
    """Accumulator bits compared per action fold: every threshold step at once in a hidden layer, none in the last."""
    return 0 if last else live_lanes * (2**layer.output_bits - 1) * layer.accumulator_bits


def stream_bits(record_layer: dict, last: bool) -> int:
    """Bits of a layer's output vector: what a FINN build buffers in LUTs between layers (its FIFOs, width converters).

    The last layer streams out its accumulators, not levels. The input vector a FINN MVAU
    keeps for its output folds is this RTL's input register and slice multiplexer, priced as
    this RTL's.
    """
    return record_layer["live_rows"] * (record_layer["accumulator_bits"] if last else record_layer["output_bits"])
