"""Synthesizable Verilog of a folded integer policy: the dataflow as the estimate describes it.

One module per layer, joined by vector handshakes (``valid``/``ready``), and a top
module ``policy`` that takes the unpadded observation levels and gives the unpadded
action levels. A layer of ``MH`` rows and ``MW`` columns folded to ``PE`` rows and
``SIMD`` columns per cycle runs ``NF * SF`` cycles per action (``NF = MH / PE``,
``SF = MW / SIMD``), as FINN's MVAU does:

    counters (nf, sf) -> weight ROM word + input slice -> PE dot products of SIMD terms,
      accumulated over SF cycles -> per PE lane, a binary search of the channel's
      2^b - 1 thresholds, one pipeline stage per output bit -> output shift register

A layer takes its whole input vector in one handshake and holds its output vector
until the next layer takes it, so layers work on successive actions at once. Per
layer the pipeline adds three cycles (start, weight-ROM read, accumulate) and one
per output bit (the threshold search): the latency is ``sum(NF * SF + b + 3)``
over the layers and the initiation interval ``max(NF * SF + b + 3)``, which the
simulation measures.

Weights and thresholds are constants of the design (initialized ROMs, one weight ROM
per layer of ``NF * SF`` words, one threshold ROM per lane and search stage), so
synthesis sees their values: all-zero weight lanes, padded channels and constant
threshold lanes are simplified away by the synthesis tool, not here. A threshold
search stage reads one threshold per channel (the binary search FINN's RTL
thresholding uses), so a b-bit activation costs b comparators per lane, not 2^b - 1.

Where memories and multipliers go is decided here, within the device's budget
(``place``): yosys has none, and Vivado's "fill BRAM, then LUTs" is what the
published designs used. Memories get ``rom_style`` "block" (RAMB18/36) or "logic"
(LUTs: yosys maps no ROM to LUTRAM, and a ROM as logic lets synthesis fold its
constant bits), products either ``*`` (mapped to DSP48E1 by synthesis) or
shift-and-add in LUTs.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from synthesis.dataflow import padded
from synthesis.errors import SynthesisInputError
from synthesis.lowering import IntegerPolicy, accumulator_reach, int_range

GENERATOR_VERSION = 1
"""Bumped by every change to the generated RTL; post-synthesis reports are cached against it."""

TOP = "policy"

#: RAMB18 aspect ratios (depth, width) of 7-series block RAM in simple dual port (UG473).
_RAMB18_SHAPES = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))
#: Fewer LUTs than this as logic and a memory stays out of block RAM.
_BRAM_MIN_LUTS = 64
#: Cycles each layer's pipeline adds to its NF * SF, besides one per output bit: start, weight-ROM read, accumulate.
PIPELINE_CYCLES = 3
#: Products at least this wide may go to a DSP48E1 (narrower ones are cheaper in LUTs; yosys's own bound).
_DSP_MIN_PRODUCT_BITS = 9


def signed_width(low: int, high: int) -> int:
    """Bits of the two's-complement type that holds every integer in [low, high]."""
    return max(1 + max(low, -low - 1, high, -high - 1).bit_length(), 2)


@dataclass(frozen=True)
class FoldedLayer:
    """One layer as hardware: its padded integer matrix, thresholds, folding and placement."""

    index: int
    weights: np.ndarray
    """(MH, MW) int64, padded"""
    thresholds: np.ndarray
    """(MH, 2^output_bits - 1) int64, ascending per row"""
    weight_bits: int
    input_bits: int
    input_signed: bool
    output_bits: int
    output_signed: bool
    pe: int
    simd: int
    block_roms: frozenset[str] = frozenset()
    """names of the ROMs placed in block RAM; the others are logic"""
    dsp_products: bool = False
    """products as ``*`` (DSP48E1) rather than shift-and-add in LUTs"""

    @property
    def rows(self) -> int:
        return self.weights.shape[0]

    @property
    def columns(self) -> int:
        return self.weights.shape[1]

    @property
    def neuron_folds(self) -> int:
        return self.rows // self.pe

    @property
    def synapse_folds(self) -> int:
        return self.columns // self.simd

    @property
    def cycles(self) -> int:
        """Cycles per action at full rate: what FINN's estimate counts for this layer."""
        return self.neuron_folds * self.synapse_folds

    @cached_property
    def accumulator_bits(self) -> int:
        """Bits of an accumulator that holds every partial sum and compares with every threshold.

        A partial sum of a row lies within the row's full reach, as every term's range contains 0.
        """
        low, high = accumulator_reach(self.weights, *int_range(self.input_bits, self.input_signed))
        return signed_width(
            int(min(low.min(), self.thresholds.min())), int(max(high.max(), self.thresholds.max()))
        )

    @property
    def product_bits(self) -> int:
        return self.weight_bits + self.input_bits + (0 if self.input_signed else 1)

    @cached_property
    def roms(self) -> dict[str, tuple[list[int], int]]:
        """Each ROM of the layer by name: (its words, their width in bits).

        ``weight_rom``: word ``nf * SF + sf`` packs the PE x SIMD weights of that fold.
        ``threshold_rom<s>_<lane>``: search stage s of one lane; for each neuron fold and
        each s-bit prefix j of the count, threshold number ``(2j + 1) * 2^(b-1-s) - 1``
        of the lane's channel.
        """
        pe, simd, sf_count = self.pe, self.simd, self.synapse_folds
        weights = []
        for step in range(self.cycles):
            nf, sf = divmod(step, sf_count)
            block = self.weights[nf * pe : (nf + 1) * pe, sf * simd : (sf + 1) * simd]
            weights.append(_pack(block.reshape(-1), self.weight_bits))
        found = {"weight_rom": (weights, pe * simd * self.weight_bits)}
        for stage in range(self.output_bits):
            span = 2 ** (self.output_bits - 1 - stage)
            for lane in range(pe):
                words = [
                    int(self.thresholds[nf * pe + lane, (2 * prefix + 1) * span - 1])
                    for nf in range(self.neuron_folds)
                    for prefix in range(2**stage)
                ]
                found[f"threshold_rom{stage}_{lane}"] = (words, self.accumulator_bits)
        return found

    def style(self, rom: str) -> str:
        return "block" if rom in self.block_roms else "logic"


def fold(policy: IntegerPolicy, folding: list[tuple[int, int]], pad_multiple: int) -> list[FoldedLayer]:
    """The policy's layers, padded as the dataflow is, with (PE, SIMD) per layer."""
    if len(folding) != len(policy.layers):
        raise SynthesisInputError(f"folding gives {len(folding)} layers; the policy has {len(policy.layers)}")
    layers = []
    input_bits, input_signed = policy.input_bits, True
    last = len(policy.layers) - 1
    for index, (layer, (pe, simd)) in enumerate(zip(policy.layers, folding)):
        rows, columns = layer.weights.shape
        rows_padded = padded(rows, pad_multiple) if index == last else rows
        columns_padded = padded(columns, pad_multiple) if index == 0 else columns
        if rows_padded % pe or columns_padded % simd:
            raise SynthesisInputError(
                f"layer {index}: PE {pe} and SIMD {simd} must divide its {rows_padded} rows and {columns_padded} columns"
            )
        weights = np.zeros((rows_padded, columns_padded), dtype=np.int64)
        weights[:rows, :columns] = layer.weights
        # A padded row's accumulator is always 0; thresholds of 1 keep it at the lowest level, as in the dataflow graph.
        thresholds = np.ones((rows_padded, layer.thresholds.shape[1]), dtype=np.int64)
        thresholds[:rows] = layer.thresholds
        layers.append(
            FoldedLayer(
                index=index,
                weights=weights,
                thresholds=thresholds,
                weight_bits=layer.weight_bits,
                input_bits=input_bits,
                input_signed=input_signed,
                output_bits=layer.output_bits,
                output_signed=layer.output_signed,
                pe=pe,
                simd=simd,
            )
        )
        input_bits, input_signed = layer.output_bits, layer.output_signed
    return layers


def ramb18_count(depth: int, width: int) -> int:
    """RAMB18s a ROM of ``depth`` words of ``width`` bits takes, in its best aspect ratio."""
    return min(math.ceil(depth / d) * math.ceil(width / w) for d, w in _RAMB18_SHAPES)


def live_bits(words: list[int], width: int) -> int:
    """Bits of a ROM's word that are not the same in every word: what synthesis keeps of a ROM in logic."""
    mask = (1 << width) - 1
    varying = 0
    for word in words:
        varying |= (word ^ words[0]) & mask
    return bin(varying).count("1")


def rom_luts(words: list[int], width: int) -> int:
    """About the LUTs a ROM takes as logic: a LUT6 per varying bit per 64 words."""
    return live_bits(words, width) * math.ceil(len(words) / 64)


#: How ``place`` may treat weight memories and products: by its rule within the budget ("auto") or forced.
WEIGHT_PLACEMENTS = ("auto", "block", "logic")
PRODUCT_PLACEMENTS = ("auto", "dsp", "lut")


def place(
    layers: list[FoldedLayer],
    bram36: int,
    dsps: int,
    *,
    weights: str | tuple[str, ...] = "auto",
    products: str = "auto",
    min_dsp_product_bits: int = _DSP_MIN_PRODUCT_BITS,
) -> list[FoldedLayer]:
    """Memories to block RAM and products to DSPs, the greatest LUT savings first, within the budgets.

    A memory goes to BRAM when it would take at least ``_BRAM_MIN_LUTS`` LUTs as logic,
    in order of LUTs saved per RAMB18 used, while the device's RAMB18s last; the rest
    are logic. A layer's products (``PE * SIMD`` of them) go to DSPs when they
    are at least ``min_dsp_product_bits`` wide (yosys maps nothing narrower than 9 bits
    to a DSP; Vivado maps every product) and the remaining DSPs hold them all,
    the widest products first. ``weights`` "block" or "logic" (one for all layers, or
    one per layer) forces weight ROMs there and ``products`` "dsp" or "lut" every layer's
    products, whatever the budget: what a user who fixes the memory or multiplier style
    gets, fitting or not.
    """
    styles = (weights,) * len(layers) if isinstance(weights, str) else tuple(weights)
    if len(styles) != len(layers) or not set(styles) <= set(WEIGHT_PLACEMENTS) or products not in PRODUCT_PLACEMENTS:
        raise SynthesisInputError(
            f"placement weights={weights!r}, products={products!r}: use weights in {WEIGHT_PLACEMENTS} (one, or one per "
            f"layer), products in {PRODUCT_PLACEMENTS}"
        )
    block: set[tuple[int, str]] = set()
    free_blocks = 2 * bram36
    candidates = []
    for layer in layers:
        for name, (words, width) in layer.roms.items():
            luts, blocks = rom_luts(words, width), ramb18_count(len(words), live_bits(words, width))
            forced = styles[layer.index] if name == "weight_rom" else "auto"
            if forced == "block":
                block.add((layer.index, name))
                free_blocks -= blocks
            elif luts >= _BRAM_MIN_LUTS and forced == "auto":
                candidates.append((luts / blocks, blocks, layer.index, name))
    for _, blocks, index, name in sorted(candidates, reverse=True):
        if blocks <= free_blocks:
            block.add((index, name))
            free_blocks -= blocks
    on_dsp: set[int] = set()
    free_dsps = dsps
    for layer in sorted(layers, key=lambda layer: -layer.product_bits):
        count = layer.pe * layer.simd
        if products == "dsp" or (products == "auto" and layer.product_bits >= min_dsp_product_bits and count <= free_dsps):
            on_dsp.add(layer.index)
            free_dsps -= count
    placed = []
    for layer in layers:
        placed.append(
            dataclasses.replace(
                layer,
                block_roms=frozenset(name for index, name in block if index == layer.index),
                dsp_products=layer.index in on_dsp,
            )
        )
    return placed


def _bits(width: int) -> int:
    """Bits of a counter over ``width`` values (at least one)."""
    return max(1, (width - 1).bit_length())


def _rom(name: str, style: str, words: list[int], width: int, address: str, out: str, indent: str = "    ") -> list[str]:
    """A synchronous-read ROM ``name`` of ``words`` read at ``address`` into register ``out``."""
    lines = [
        f"{indent}(* rom_style = \"{style}\" *) reg [{width - 1}:0] {name} [0:{len(words) - 1}];",
        f"{indent}initial begin",
    ]
    mask = (1 << width) - 1
    hex_digits = max(1, math.ceil(width / 4))
    lines += [f"{indent}    {name}[{i}] = {width}'h{word & mask:0{hex_digits}x};" for i, word in enumerate(words)]
    lines.append(f"{indent}end")
    read = "0" if len(words) == 1 else address
    lines.append(f"{indent}always @(posedge clk) {out} <= {name}[{read}];")
    return lines


def _pack(values, width: int) -> int:
    """Little-endian packing of integers into one word, each in ``width`` two's-complement bits."""
    word, mask = 0, (1 << width) - 1
    for position, value in enumerate(values):
        word |= (int(value) & mask) << (position * width)
    return word


def _product(layer: FoldedLayer, weight: str, x: str) -> str:
    """One weight-times-input term as a Verilog expression of ``layer.accumulator_bits`` bits."""
    acc = layer.accumulator_bits
    x_signed = x if layer.input_signed else f"{{1'b0, {x}}}"
    if layer.dsp_products:
        return f"($signed({weight}) * $signed({x_signed}))"
    # shift-and-add on the weight's bits (the top bit weighs -2^(b-1)): adders in LUTs, never a DSP
    terms = []
    for bit in range(layer.weight_bits):
        shifted = f"($signed({x_signed}) <<< {bit})" if bit else f"$signed({x_signed})"
        sign = "-" if bit == layer.weight_bits - 1 else "+"
        terms.append(f"{sign} ({weight}[{bit}] ? {acc}'sd0 + {shifted} : {acc}'sd0)")
    return "(" + " ".join(terms) + ")"


def layer_module(layer: FoldedLayer) -> str:
    """The Verilog module ``layer<index>`` of one folded layer."""
    k, pe, simd = layer.index, layer.pe, layer.simd
    nf_count, sf_count = layer.neuron_folds, layer.synapse_folds
    ib, ob, wb, acc = layer.input_bits, layer.output_bits, layer.weight_bits, layer.accumulator_bits
    mw, mh = layer.columns, layer.rows
    nfw, sfw, stepw = _bits(nf_count), _bits(sf_count), _bits(layer.cycles)
    lines = [
        f"// layer {k}: {mh} x {mw}, PE {pe}, SIMD {simd}: {nf_count} x {sf_count} = {layer.cycles} cycles per action",
        f"module layer{k} (",
        "    input clk, input rst,",
        f"    input in_valid, output in_ready, input [{mw * ib - 1}:0] in_data,",
        f"    output reg out_valid, input out_ready, output [{mh * ob - 1}:0] out_data",
        ");",
        f"    reg [{mw * ib - 1}:0] x;",
        "    reg loaded, running, draining;",
        f"    reg [{stepw - 1}:0] step;",
        f"    reg [{nfw - 1}:0] nf;",
        f"    reg [{sfw - 1}:0] sf;",
        "    assign in_ready = !loaded;",
        "    wire start = loaded && !running && !draining && !out_valid;",
        "    wire done;",
        "    always @(posedge clk) begin",
        "        if (rst) begin",
        "            loaded <= 1'b0; running <= 1'b0; draining <= 1'b0; out_valid <= 1'b0;",
        "        end else begin",
        "            if (in_valid && !loaded) begin x <= in_data; loaded <= 1'b1; end",
        "            if (out_valid && out_ready) out_valid <= 1'b0;",
        f"            if (start) begin running <= 1'b1; step <= {stepw}'d0; nf <= {nfw}'d0; sf <= {sfw}'d0; end",
        "            if (running) begin",
        f"                step <= step + {stepw}'d1;",
        f"                if (sf == {sfw}'d{sf_count - 1}) begin",
        f"                    sf <= {sfw}'d0; nf <= nf + {nfw}'d1;",
        f"                    if (nf == {nfw}'d{nf_count - 1}) begin running <= 1'b0; draining <= 1'b1; end",
        f"                end else sf <= sf + {sfw}'d1;",
        "            end",
        "            if (done) begin draining <= 1'b0; loaded <= 1'b0; out_valid <= 1'b1; end",
        "        end",
        "    end",
        "",
        "    // stage 1: the weight word and the input slice of this (nf, sf), registered",
        f"    reg [{pe * simd * wb - 1}:0] w1;",
        f"    reg [{simd * ib - 1}:0] x1;",
        "    reg v1, first1, last1;",
        f"    reg [{nfw - 1}:0] nf1;",
    ]
    roms = layer.roms
    lines += _rom("weight_rom", layer.style("weight_rom"), *roms["weight_rom"], "step", "w1")
    x_slice = "x" if sf_count == 1 else f"x[sf * {simd * ib} +: {simd * ib}]"
    lines += [
        "    always @(posedge clk) begin",
        f"        x1 <= {x_slice};",
        f"        v1 <= running && !rst; first1 <= sf == {sfw}'d0; last1 <= sf == {sfw}'d{sf_count - 1}; nf1 <= nf;",
        "    end",
        "",
        "    // stage 2: PE accumulators over SF cycles",
        f"    reg signed [{acc - 1}:0] acc2 [0:{pe - 1}];",
    ]
    for lane in range(pe):
        terms = [
            _product(layer, f"w1[{(lane * simd + j) * wb + wb - 1}:{(lane * simd + j) * wb}]", f"x1[{j * ib + ib - 1}:{j * ib}]")
            for j in range(simd)
        ]
        lines += [
            f"    wire signed [{acc - 1}:0] dot{lane} = {' + '.join(terms)};",
            f"    always @(posedge clk) if (v1) acc2[{lane}] <= (first1 ? {acc}'sd0 : acc2[{lane}]) + dot{lane};",
        ]
    lines += _threshold_search(layer, roms)
    lines += [
        "endmodule",
        "",
    ]
    return "\n".join(lines)


def _threshold_search(layer: FoldedLayer, roms: dict[str, tuple[list[int], int]]) -> list[str]:
    """Per PE lane, the binary search of the thresholds: stage s settles output bit b-1-s in one cycle.

    Stage s's ROM holds, for each neuron fold and each s-bit prefix j of the count,
    threshold number ``(2j + 1) * 2^(b-1-s) - 1`` of the channel; its address
    ``{nf, j}`` is presented while stage s-1 compares, so each stage takes one cycle
    through the ROM's read register. ``p<s>`` holds the prefix, ``a<s>`` the accumulator,
    in stage s's cycle.
    """
    pe, ob, acc, nf_count = layer.pe, layer.output_bits, layer.accumulator_bits, layer.neuron_folds
    nfw, mh = _bits(nf_count), layer.rows
    lines = ["", f"    // stages 3..{2 + ob}: binary search of each lane's {2**ob - 1} thresholds"]
    previous_valid, previous_nf = "v1 && last1", "nf1"
    for stage in range(ob):
        lines += [
            f"    reg vs{stage};",
            f"    reg [{nfw - 1}:0] nfs{stage};",
            f"    always @(posedge clk) begin vs{stage} <= {previous_valid}; nfs{stage} <= {previous_nf}; end",
        ]
        for lane in range(pe):
            if stage == 0:
                address, accumulator = "nf1", f"acc2[{lane}]"
            else:
                accumulator = f"a{stage}_{lane}"
                before = f"acc2[{lane}]" if stage == 1 else f"a{stage - 1}_{lane}"
                prefix = _prefix(stage - 1, lane)
                lines += [
                    f"    reg signed [{acc - 1}:0] {accumulator};",
                    f"    always @(posedge clk) {accumulator} <= {before};",
                    f"    reg [{stage - 1}:0] p{stage}_{lane};",
                    f"    always @(posedge clk) p{stage}_{lane} <= {prefix};",
                ]
                address = f"{{nfs{stage - 1}, {prefix}}}"
            threshold = f"t{stage}_{lane}"
            lines.append(f"    reg signed [{acc - 1}:0] {threshold};")
            rom = f"threshold_rom{stage}_{lane}"
            lines += _rom(rom, layer.style(rom), *roms[rom], address, threshold)
            lines.append(f"    wire bit{stage}_{lane} = {accumulator} >= {threshold};")
        previous_valid, previous_nf = f"vs{stage}", f"nfs{stage}"
    last = ob - 1
    # a signed level is the count (0 .. 2^b - 1) less 2^(b-1): the count with its top bit flipped
    flip = f" ^ {ob}'d{2 ** (ob - 1)}" if layer.output_signed else ""
    levels = ", ".join(f"({_prefix(last, lane)}{flip})" for lane in reversed(range(pe)))
    lines += [
        "",
        "    // output: PE levels per neuron fold, shifted in from the top so fold 0 ends lowest",
        f"    reg [{mh * layer.output_bits - 1}:0] y;",
        f"    wire [{pe * ob - 1}:0] levels = {{{levels}}};",
        f"    always @(posedge clk) if (vs{last}) y <= "
        + ("levels;" if nf_count == 1 else f"{{levels, y[{mh * ob - 1}:{pe * ob}]}};"),
        f"    assign done = vs{last} && nfs{last} == {nfw}'d{nf_count - 1};",
        "    assign out_data = y;",
    ]
    return lines


def _prefix(stage: int, lane: int) -> str:
    """The count's top stage+1 bits as known in stage ``stage``'s cycle: the earlier stages' prefix and this stage's bit."""
    return f"{{p{stage}_{lane}, bit{stage}_{lane}}}" if stage else f"bit0_{lane}"


def top_module(layers: list[FoldedLayer], obs_dim: int, action_dim: int) -> str:
    """The module ``policy``: observation levels in, action levels out, the layers chained by handshakes.

    Padded inputs are tied to zero and padded outputs left unconnected: synthesis removes what only they use.
    """
    first, last = layers[0], layers[-1]
    ib, ob = first.input_bits, last.output_bits
    lines = [
        f"// integer policy: {obs_dim} observations of {ib} bits in, {action_dim} actions of {ob} bits out",
        f"module {TOP} (",
        "    input clk, input rst,",
        f"    input in_valid, output in_ready, input [{obs_dim * ib - 1}:0] obs,",
        f"    output out_valid, input out_ready, output [{action_dim * ob - 1}:0] action",
        ");",
    ]
    pad = first.columns - obs_dim
    source = f"{{{pad * ib}'d0, obs}}" if pad else "obs"
    valid, ready = "in_valid", "in_ready"
    for layer in layers:
        k = layer.index
        out_width = layer.rows * layer.output_bits
        is_last = layer is last
        out_valid, out_ready = ("out_valid", "out_ready") if is_last else (f"valid{k + 1}", f"ready{k + 1}")
        if not is_last:
            lines += [f"    wire {out_valid}, {out_ready};"]
        lines += [
            f"    wire [{out_width - 1}:0] data{k + 1};",
            f"    layer{k} layer{k}_i (.clk(clk), .rst(rst), .in_valid({valid}), .in_ready({ready}), .in_data({source}),",
            f"        .out_valid({out_valid}), .out_ready({out_ready}), .out_data(data{k + 1}));",
        ]
        valid, ready, source = out_valid, out_ready, f"data{k + 1}"
    lines += [f"    assign action = {source}[{action_dim * ob - 1}:0];", "endmodule", ""]
    return "\n".join(lines)


def verilog(policy: IntegerPolicy, layers: list[FoldedLayer]) -> str:
    """The whole design as one Verilog file: every layer's module, then the top."""
    header = (
        f"// generated by dse (synthesis.rtl, generator version {GENERATOR_VERSION}) from integer policy {policy.digest()}\n"
        "// weights and thresholds are constants of this file; see README.md beside it to build it\n\n"
    )
    return header + "\n".join(layer_module(layer) for layer in layers) + top_module(layers, policy.obs_dim, policy.action_dim)
