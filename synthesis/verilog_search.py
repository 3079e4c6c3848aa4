"""The threshold search of a layer as Verilog: each lane's output level found one or two bits per registered stage."""

from __future__ import annotations

from synthesis.rtl import FoldedLayer
from synthesis.verilog_text import counter_bits, delayed_lines, rom_lines


def threshold_search(layer: FoldedLayer, stage: str) -> list[str]:
    """Per PE lane, the binary search of the thresholds, one registered stage at a time, then the output register.

    ``stage``: the flags of the cycle that writes the accumulators; search stage 0 follows it.
    """
    pe, ob, nf_count, mh = layer.pe, layer.output_bits, layer.neuron_folds, layer.rows
    nfw = counter_bits(nf_count)
    flags = [("vs", f"v{stage} && last{stage}", 1), ("nfs", f"nf{stage}", nfw)]
    if stage == "control":
        flags = [("vs", f"running && !rst && sf == {counter_bits(layer.synapse_folds)}'d{layer.synapse_folds - 1}", 1), ("nfs", "nf", nfw)]
    search = _constant_search if layer.constant_thresholds else _folded_search
    lines, levels = search(layer, flags)
    last = layer.search_stages - 1
    # a signed level is the count (0 .. 2^b - 1) less 2^(b-1): the count with its top bit flipped
    flip = f" ^ {ob}'d{2 ** (ob - 1)}" if layer.output_signed else ""
    joined = ", ".join(f"({level}{flip})" for level in reversed(levels))
    return lines + [
        "",
        "    // output: PE levels per neuron fold, shifted in from the top so fold 0 ends lowest",
        f"    reg [{mh * ob - 1}:0] y;",
        f"    wire [{pe * ob - 1}:0] levels = {{{joined}}};",
        f"    always @(posedge clk) if (vs{last}) y <= " + ("levels;" if nf_count == 1 else f"{{levels, y[{mh * ob - 1}:{pe * ob}]}};"),
        f"    assign done = vs{last} && nfs{last} == {nfw}'d{nf_count - 1};",
        "    assign out_data = y;",
    ]


def _folded_search(layer: FoldedLayer, flags: list) -> tuple[list[str], list[str]]:
    """Search stage s settles output bit b-1-s in one cycle.

    Search stage 0 compares the accumulator with the channel's middle threshold, read
    while the last slice was accumulated. Stage s >= 1 compares ``a<s>`` with one of the
    pair of thresholds read during stage s-1 at the prefix ``p<s-1>`` settled before it,
    chosen by the bit stage s-1 settled: a comparison and a 2:1 select per cycle.
    Returns the lines and each lane's output level.
    """
    pe, ob, acc, nfw = layer.pe, layer.output_bits, layer.accumulator_bits, counter_bits(layer.neuron_folds)
    lines = ["", f"    // search stages 0..{ob - 1}: binary search of each lane's {2**ob - 1} thresholds"]
    lines += delayed_lines(flags, "0")
    address = flags[1][1]
    for lane in range(pe):
        lines.append(f"    reg signed [{acc - 1}:0] t0_{lane};")
        lines += rom_lines(f"threshold_rom0_{lane}", layer.style(f"threshold_rom0_{lane}"), *layer.roms[f"threshold_rom0_{lane}"],
                      address, f"t0_{lane}")  # fmt: skip
        lines.append(f"    wire bit0_{lane} = acc_{lane} >= t0_{lane};")
    for search in range(1, ob):
        lines += delayed_lines([("vs", f"vs{search - 1}", 1), ("nfs", f"nfs{search - 1}", nfw)], str(search))
        for lane in range(pe):
            rom = f"threshold_rom{search}_{lane}"
            before = f"acc_{lane}" if search == 1 else f"a{search - 1}_{lane}"
            address = f"nfs{search - 1}" if search == 1 else f"{{nfs{search - 1}, p{search - 1}_{lane}}}"
            lines += [f"    reg signed [{acc - 1}:0] a{search}_{lane};", f"    always @(posedge clk) a{search}_{lane} <= {before};",
                      f"    reg [{search - 1}:0] p{search}_{lane};",
                      f"    always @(posedge clk) p{search}_{lane} <= {_prefix(search - 1, lane)};",
                      f"    reg [{2 * acc - 1}:0] pair{search}_{lane};"]  # fmt: skip
            lines += rom_lines(rom, layer.style(rom), *layer.roms[rom], address, f"pair{search}_{lane}")
            pair = f"pair{search}_{lane}"
            lines += [f"    wire signed [{acc - 1}:0] t{search}_{lane} = p{search}_{lane}[0] ? {pair}[{2 * acc - 1}:{acc}] : {pair}[{acc - 1}:0];",
                      f"    wire bit{search}_{lane} = a{search}_{lane} >= t{search}_{lane};"]  # fmt: skip
    return lines, [_prefix(ob - 1, lane) for lane in range(pe)]


def _constant_search(layer: FoldedLayer, flags: list) -> tuple[list[str], list[str]]:
    """One neuron fold: search stage k settles two output bits (a last odd one, one) against constant thresholds.

    The thresholds of stage k are a table of constants read as logic at the prefix settled
    before it (``threshold_table<k>``); three comparisons give the two bits as a count.
    Returns the lines and each lane's output level.
    """
    pe, ob, acc, nfw = layer.pe, layer.output_bits, layer.accumulator_bits, counter_bits(layer.neuron_folds)
    lines = ["", f"    // search stages 0..{layer.search_stages - 1}: each lane's {2**ob - 1} thresholds, two bits per stage"]
    for search in range(layer.search_stages):
        lines += delayed_lines(flags if search == 0 else [("vs", f"vs{search - 1}", 1), ("nfs", f"nfs{search - 1}", nfw)], str(search))
        settled = 2 * search
        for lane in range(pe):
            name = f"threshold_table{search}_{lane}"
            words, width = layer.roms[name]
            count = width // acc
            if search:
                lines += [f"    reg signed [{acc - 1}:0] a{search}_{lane};",
                          f"    always @(posedge clk) a{search}_{lane} <= {'acc' if search == 1 else f'a{search - 1}'}_{lane};",
                          f"    reg [{settled - 1}:0] p{search}_{lane};",
                          f"    always @(posedge clk) p{search}_{lane} <= {_settled(search - 1, lane)};"]  # fmt: skip
            value = f"acc_{lane}" if search == 0 else f"a{search}_{lane}"
            lines += [f"    (* rom_style = \"logic\" *) reg [{width - 1}:0] {name} [0:{len(words) - 1}];", "    initial begin"]
            lines += [f"        {name}[{i}] = {width}'h{word & ((1 << width) - 1):x};" for i, word in enumerate(words)]
            lines += ["    end", f"    wire [{width - 1}:0] tt{search}_{lane} = {name}[{'0' if len(words) == 1 else f'p{search}_{lane}'}];"]
            compared = [f"({value} >= $signed(tt{search}_{lane}[{(c + 1) * acc - 1}:{c * acc}]))" for c in range(count)]
            # the thresholds ascend, so the comparisons passed count the two bits
            passed = " + ".join(f"{{1'b0, {term}}}" for term in compared) if count > 1 else compared[0]
            lines.append(f"    wire [{1 if count > 1 else 0}:0] code{search}_{lane} = {passed};")
    last = layer.search_stages - 1
    return lines, [_settled(last, lane) for lane in range(pe)]


def _settled(search: int, lane: int) -> str:
    """The bits settled by constant-search stage ``search`` and those before it."""
    return f"{{p{search}_{lane}, code{search}_{lane}}}" if search else f"code0_{lane}"


def _prefix(stage: int, lane: int) -> str:
    """The count's top stage+1 bits as known in search stage ``stage``'s cycle: the prefix so far and this stage's bit."""
    return f"{{p{stage}_{lane}, bit{stage}_{lane}}}" if stage else f"bit0_{lane}"
