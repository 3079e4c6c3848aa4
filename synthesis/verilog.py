"""Synthesizable Verilog of a placed, folded integer policy (``synthesis.rtl``): one module per layer and the top ``policy``.

Layers are joined by vector handshakes (``valid``/``ready``); the top module takes the
unpadded observation levels and gives the unpadded action levels. Each layer is the
pipeline ``synthesis.rtl`` describes; every register of it is written out here, so a
reader can follow one action from its input vector to its output levels.

Products placed on DSP48E1s are written as ``*`` (the yosys script maps every ``*``
to a DSP, whatever its width); the others as shift-and-add on the weight's bits. In a
layer of one fold the weights are constants: a product in LUTs adds the input shifted
by each of the constant's signed digits, and a product meant for a DSP takes its
weight through a register that reset sets to the weight's complement (a multiplier by
a constant would be folded away). Sums are written as trees of parenthesized
additions and subtractions, which synthesis keeps, so every stage's depth is as the
RTL's description (``synthesis.rtl``) says.
"""

from __future__ import annotations

import math

from synthesis import rtl
from synthesis.lowering import IntegerPolicy
from synthesis.rtl import GENERATOR_VERSION, TOP, FoldedLayer
from synthesis.verilog_search import threshold_search
from synthesis.verilog_text import balanced_sum, counter_bits, delayed_lines, rom_lines, signed_sum, stage_flags


def _product(layer: FoldedLayer, weight: tuple[str, int] | str | int, x: str, on_dsp: bool) -> str:
    """One weight-times-input term as a Verilog expression, to be assigned to a register of ``product_bits``.

    ``weight``: (the signal holding it, its lowest bit), a register of its own, or at one
    fold the constant itself (its two's complement bits). Each weight bit
    is one index into its signal: yosys reads a bit of a part-select (``w[3:2][1]``) as a
    bit of the whole signal (``w[1]``), Verilator as the part's.
    """
    x_signed = x if layer.input_signed else f"{{1'b0, {x}}}"
    if on_dsp:
        operand = f"{weight[0]}[{weight[1] + layer.weight_bits - 1}:{weight[1]}]" if isinstance(weight, tuple) else weight
        return f"$signed({operand}) * $signed({x_signed})"
    width = layer.product_bits
    shifted = lambda bit: f"({width}'sd0 + ($signed({x_signed}) <<< {bit}))" if bit else f"({width}'sd0 + $signed({x_signed}))"  # noqa: E731
    if isinstance(weight, int):
        # a constant: one shifted input per signed digit (rtl.signed_digits): two adder levels for up to four digits,
        # one more to negate a constant whose digits are all negative
        value = weight - (1 << layer.weight_bits) if weight >> (layer.weight_bits - 1) else weight
        terms = [(shifted(bit), digit) for bit, digit in rtl.signed_digits(value)]
        return signed_sum(terms, width) if terms else f"{width}'sd0"
    # shift-and-add on the weight's bits (the top bit weighs -2^(b-1)): adders in LUTs, never a DSP
    terms = []
    for bit in range(layer.weight_bits):
        select = f"{weight[0]}[{weight[1] + bit}]" if isinstance(weight, tuple) else f"{weight}[{bit}]"
        terms.append((f"({select} ? {shifted(bit)} : {width}'sd0)", -1 if bit == layer.weight_bits - 1 else 1))
    return signed_sum(terms, width)


def _control(layer: FoldedLayer) -> list[str]:
    """Ports, the input vector register and the (nf, sf) counters that run NF * SF cycles per action."""
    k, nf_count, sf_count = layer.index, layer.neuron_folds, layer.synapse_folds
    mw, mh, ib, ob = layer.columns, layer.rows, layer.input_bits, layer.output_bits
    nfw, sfw, stepw = counter_bits(nf_count), counter_bits(sf_count), counter_bits(layer.cycles)
    return [
        f"// layer {k}: {mh} x {mw}, PE {layer.pe}, SIMD {layer.simd}: {nf_count} x {sf_count} = {layer.cycles} cycles "
        f"per action, {layer.latency} cycles from input to output",
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
    ]


def _products(layer: FoldedLayer) -> tuple[list[str], list[list[tuple[str, int]]], str]:
    """Every product (``FoldedLayer.product_units``), registered, with the stages that bring it its weight and input.

    With several folds: the counters registered, the weight word and the input slice read,
    then registered again. At one fold the weights are constants, the products take the
    input vector directly, and lanes with the same weight at a position share its product.
    Returns the lines, per lane its product registers (name, bits), and the suffix of the
    flags that mark a product stage's cycle.
    """
    pe, simd, wb, ib = layer.pe, layer.simd, layer.weight_bits, layer.input_bits
    nfw, sfw, sf_count = counter_bits(layer.neuron_folds), counter_bits(layer.synapse_folds), layer.synapse_folds
    control = [("v", "running && !rst", 1), ("first", f"sf == {sfw}'d0", 1), ("last", f"sf == {sfw}'d{sf_count - 1}", 1),
               ("nf", "nf", nfw)]  # fmt: skip
    if layer.constant_weights:
        x = "x"
        lines = ["", "    // one fold: constant weights, the products read the input vector as it was taken"]
        lines += delayed_lines(control, "p")
    else:
        stepw = counter_bits(layer.cycles)
        lines = ["", "    // stage 0: the counters, registered (so synthesis cannot fold the count into the ROM's address decode);",
                 "    // stage 1: the weight word and the input slice of this (nf, sf), read; stage 2: both registered again",
                 f"    reg [{stepw - 1}:0] step0;", f"    reg [{sfw - 1}:0] sf0;",
                 f"    reg [{pe * simd * wb - 1}:0] w1, w2;", *_slice_registers(layer),
                 "    always @(posedge clk) begin step0 <= step; sf0 <= sf; end"]  # fmt: skip
        lines += rom_lines("weight_rom", layer.style("weight_rom"), *layer.roms["weight_rom"], "step0", "w1")
        # a block RAM's read is slow (2.5 ns): the second register (its output register) keeps it off the products' path
        lines += _input_slice(layer)
        lines += delayed_lines(control, "0") + delayed_lines(stage_flags("0", nfw), "1") + delayed_lines(stage_flags("1", nfw), "2")
        lines += delayed_lines(stage_flags("2", nfw), "p")
        x = "x2"
    lines += ["", "    // the products, registered (on DSP48E1s or in LUTs)"]
    per_lane: list[list[tuple[str, int]]] = [[] for _ in range(pe)]
    for unit, (position, constant, lanes) in enumerate(layer.product_units):
        low = (lanes[0] * simd + position) * wb
        weight: tuple[str, int] | str | int = ("w2", low) if constant is None else constant & ((1 << wb) - 1)
        on_dsp = unit in layer.dsp_units
        if on_dsp and constant is not None:
            held = f"wd_{unit}"
            # reset to the weight's complement, and kept apart: every bit varies, so synthesis keeps the whole multiplier
            complement = ~weight & ((1 << wb) - 1)
            lines += [f"    (* keep *) reg [{wb - 1}:0] {held};", f"    always @(posedge clk) {held} <= rst ? {wb}'h{complement:x} : {wb}'h{weight:x};"]
            weight = held
        name = f"p_{lanes[0]}_{position}" if constant is None else f"p_{position}_w{constant & ((1 << wb) - 1)}"
        x_position = f"{x}[{position * ib + ib - 1}:{position * ib}]"
        lines += [f"    reg signed [{layer.product_bits - 1}:0] {name};",
                  f"    always @(posedge clk) {name} <= {_product(layer, weight, x_position, on_dsp)};"]  # fmt: skip
        for lane in lanes:
            per_lane[lane].append((name, layer.product_bits))
    return lines, per_lane, "p"


def _slice_registers(layer: FoldedLayer) -> list[str]:
    """The input slice's two stages: the slice (or its group, and the slice's index within it), then the slice."""
    slice_bits = layer.simd * layer.input_bits
    if layer.slice_group == 1:
        return [f"    reg [{slice_bits - 1}:0] x1, x2;"]
    index_bits = layer.slice_group.bit_length() - 1
    return [f"    reg [{layer.slice_group * slice_bits - 1}:0] x1;", f"    reg [{slice_bits - 1}:0] x2;", f"    reg [{index_bits - 1}:0] s1;"]


def _input_slice(layer: FoldedLayer) -> list[str]:
    """The input slice of this sf into ``x2`` in two register stages, beside the weight word's (``w2 <= w1``).

    Within ``rtl.SLICE_SHIFTER_MAX_BITS`` the first stage takes the slice (a shifter) and the
    second registers it again; above, the first stage takes the slice's group of
    ``layer.slice_group`` slices and the second the slice within it, so neither stage
    chooses among more than about twice the square root of SF words.
    """
    slice_bits, vector_bits, sfw = layer.simd * layer.input_bits, layer.columns * layer.input_bits, counter_bits(layer.synapse_folds)
    group = layer.slice_group
    if group == 1:
        chosen = "x" if layer.synapse_folds == 1 else f"x[sf0 * {slice_bits} +: {slice_bits}]"
        return [f"    always @(posedge clk) begin x1 <= {chosen}; w2 <= w1; x2 <= x1; end"]
    group_bits, index_bits = group * slice_bits, group.bit_length() - 1
    lines = ["    always @(posedge clk) begin", "        w2 <= w1;", f"        s1 <= sf0[{index_bits - 1}:0];"]
    groups = -(-layer.synapse_folds // group)
    if groups == 1:
        lines.append(f"        x1 <= {_padded('x', vector_bits, 0, group_bits)};")
    else:
        lines.append(f"        case (sf0[{sfw - 1}:{index_bits}])")
        lines += [f"            {g}: x1 <= {_padded('x', vector_bits, g * group_bits, group_bits)};" for g in range(groups)]
        lines += [f"            default: x1 <= {group_bits}'d0;", "        endcase"]
    lines.append("        case (s1)")
    lines += [f"            {s}: x2 <= x1[{(s + 1) * slice_bits - 1}:{s * slice_bits}];" for s in range(group)]
    return lines + ["        endcase", "    end"]


def _padded(vector: str, vector_bits: int, low: int, bits: int) -> str:
    """``bits`` bits of ``vector`` from bit ``low``, zeros past its end."""
    high = min(low + bits, vector_bits) - 1
    part = f"{vector}[{high}:{low}]"
    return part if high - low + 1 == bits else f"{{{bits - (high - low + 1)}'d0, {part}}}"


def _adder_trees(layer: FoldedLayer, per_lane: list[list[tuple[str, int]]], stage: str) -> tuple[list[str], str]:
    """Each lane's products summed in ``layer.tree_depth`` register stages, then accumulated over SF cycles.

    At one slice (SF = 1) there is nothing to accumulate: the tree's last register (or the
    product's) is the accumulator. Returns the lines and the suffix of the flags of the
    stage whose cycle writes the accumulator.
    """
    acc, nfw = layer.accumulator_bits, counter_bits(layer.neuron_folds)
    zero = f"{acc}'sd0"
    lines = []
    for level in range(layer.tree_depth):
        lines.append(f"    // adder tree stage {level + 1}: groups of {rtl.TREE_GROUP} summed, registered")
        for lane, terms in enumerate(per_lane):
            summed = []
            for group, start in enumerate(range(0, len(terms), rtl.TREE_GROUP)):
                chunk = terms[start : start + rtl.TREE_GROUP]
                width = min(acc, max(bits for _, bits in chunk) + math.ceil(math.log2(len(chunk))))
                name = f"s{level}_{lane}_{group}"
                lines += [f"    reg signed [{width - 1}:0] {name};",
                          f"    always @(posedge clk) {name} <= {balanced_sum([term for term, _ in chunk])};"]  # fmt: skip
                summed.append((name, width))
            per_lane[lane] = summed
        lines += delayed_lines(stage_flags(stage, nfw), f"t{level}")
        stage = f"t{level}"
    if layer.synapse_folds == 1:
        lines += ["", "    // one slice: the last register of each lane's tree is its accumulator"]
        for lane, terms in enumerate(per_lane):
            lines.append(f"    wire signed [{acc - 1}:0] acc_{lane} = {terms[0][0] if terms else zero};")
        return lines, _previous(layer, stage)
    lines += ["", "    // accumulators over SF cycles"]
    for lane, terms in enumerate(per_lane):
        total = terms[0][0] if terms else zero
        lines += [f"    reg signed [{acc - 1}:0] acc_{lane};",
                  f"    always @(posedge clk) if (v{stage}) acc_{lane} <= (first{stage} ? {acc}'sd0 : acc_{lane}) + {total};"]  # fmt: skip
    return lines, stage


def _previous(layer: FoldedLayer, stage: str) -> str:
    """The flags' stage before ``stage`` (the cycle that writes its registers)."""
    if stage.startswith("t"):
        return f"t{int(stage[1:]) - 1}" if stage != "t0" else "p"
    return "control" if layer.constant_weights else "2"


def layer_module(layer: FoldedLayer) -> str:
    """The Verilog module ``layer<index>`` of one folded layer."""
    products, per_lane, stage = _products(layer)
    trees, stage = _adder_trees(layer, per_lane, stage)
    lines = _control(layer) + products + trees + threshold_search(layer, stage)
    return "\n".join([*lines, "endmodule", ""])


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
        f"// generated by dse (synthesis.verilog, generator version {GENERATOR_VERSION}) from integer policy {policy.digest()}\n"
        "// weights and thresholds are constants of this file; see README.md beside it to build it\n\n"
    )
    return header + "\n".join(layer_module(layer) for layer in layers) + top_module(layers, policy.obs_dim, policy.action_dim)
