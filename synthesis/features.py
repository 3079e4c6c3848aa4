"""What a placed design is made of, as plain data and as counts the hardware model prices.

``design_record`` describes a placed design (``synthesis.rtl``) as JSON-ready data: every
layer's shape, folding, bit widths, live (nonzero) products and their placement, and
every ROM's depth, width, varying bits and placement. The calibration grid stores these
records beside yosys's cell counts, so the model can be refitted without synthesis.
``layer_features`` turns a record into counts that each cost LUTs or FFs in proportion,
counting only what synthesis keeps.
"""

from __future__ import annotations

import math

from synthesis import placement, rtl

#: LUT terms, then FF terms, in the order ``layer_features`` gives them
LUT_TERMS = ("rom_logic", "product", "constant_product", "adder", "comparator", "input_mux", "layers")
FF_TERMS = ("vector_registers", "pipeline_registers", "rom_registers", "layers")


def live(layer: rtl.FoldedLayer) -> dict[str, int]:
    """What of a layer synthesis keeps: rows and columns with a nonzero weight, and the PE lanes and SIMD positions they use.

    A row of zero weights has a constant output and a column of zero weights feeds
    nothing, whether they are padding or a trained policy's dead units; synthesis
    removes their registers, products and comparators alike.
    """
    nonzero = layer.weights != 0
    rows, columns = nonzero.any(axis=1), nonzero.any(axis=0)
    return {
        "live_rows": int(rows.sum()),
        "live_columns": int(columns.sum()),
        "live_lanes": int(rows.reshape(-1, layer.pe).any(axis=0).sum()),
        "live_simd": int(columns.reshape(-1, layer.simd).any(axis=0).sum()),
    }


def products(layer: rtl.FoldedLayer) -> dict[str, int]:
    """The layer's products (``product_units``), those on DSPs, the terms each lane adds, and the adders of constant
    products in LUTs.

    In a layer of one fold a product's weight is a constant: the RTL builds it from one
    adder per signed digit beyond the first, and one to negate it when every digit is
    negative (``rtl.constant_adders``: none for +1 or a power of two).
    """
    constant_adders = sum(rtl.constant_adders(weight) for unit, (_, weight, _) in enumerate(layer.product_units)
                          if weight is not None and unit not in layer.dsp_units)  # fmt: skip
    return {
        "live_products": len(layer.product_units),
        "dsp_products": len(layer.dsp_units),
        "lane_products": layer.live_positions.sum(axis=1).tolist(),
        "constant_product_adders": constant_adders,
    }


def design_record(layers: list[rtl.FoldedLayer]) -> dict:
    """The placed design as plain data (JSON-ready): its layers and its ROMs."""
    return {
        "layers": [
            {"rows": layer.rows, "columns": layer.columns, "pe": layer.pe, "simd": layer.simd, "cycles": layer.cycles,
             "weight_bits": layer.weight_bits, "input_bits": layer.input_bits, "input_signed": layer.input_signed,
             "output_bits": layer.output_bits, "accumulator_bits": layer.accumulator_bits,
             "nonzero_weights": int((layer.weights != 0).sum()), "tree_stages": layer.tree_depth,
             "search_stages": layer.search_stages, "search_comparators": layer.search_comparators,
             "slice_group": layer.slice_group, **live(layer),
             **products(layer)}
            for layer in layers
        ],
        "roms": [
            {"layer": layer.index, "name": name, "depth": len(words), "width": width,
             "live_bits": placement.live_bits(words, width), "live_words": placement.live_words(words), "block": name in layer.block_roms}
            for layer in layers
            for name, (words, width) in layer.roms.items()
        ],
    }  # fmt: skip


def _tree_register_bits(lane_products: list[int], product_bits: int, accumulator_bits: int, stages: int) -> int:
    """Bits of a layer's adder-tree stage registers: each stage sums groups of ``rtl.TREE_GROUP``, each sum wider."""
    total = 0
    for stage in range(1, stages + 1):
        width = min(accumulator_bits, product_bits + rtl.ADDER_LEVELS_PER_STAGE * stage)
        total += sum(math.ceil(count / rtl.TREE_GROUP**stage) for count in lane_products) * width
    return total


def _search_register_bits(layer: dict) -> int:
    """Per lane, the search's registers beyond its first stage: each stage's accumulator copy and the prefix settled."""
    stages, bits, acc = layer["search_stages"], layer["output_bits"], layer["accumulator_bits"]
    constant = layer["rows"] == layer["pe"]  # one neuron fold: two bits per stage
    prefixes = stages * (stages - 1) if constant else bits * (bits - 1) // 2
    return (stages - 1) * acc + prefixes


def layer_features(record: dict, without_thresholds: frozenset[int] = frozenset()) -> list[dict[str, float]]:
    """Per layer, the counts its LUTs and FFs grow with (see LUT_TERMS, FF_TERMS).

    ``without_thresholds``: layers built without their requantization (a FINN build's last
    layer): no threshold ROMs, comparators or search registers.

    Only what synthesis keeps counts (``live``): lanes, positions, rows and columns of zero weights cost nothing.

    - rom_logic: varying bits of every ROM not in block RAM, times 64-word LUT columns of its words that differ
      from the most common one
    - product: weight bits times input bits of every product in LUTs whose weight varies (a layer of several folds)
    - constant_product: product bits of every adder a constant product in LUTs takes (``products``)
    - adder: each lane's tree of its live products (product bits, growing with the tree's depth), and its
      accumulator where it accumulates over several slices
    - comparator: accumulator bits of every threshold comparison (and 2:1 select) of every lane
      (``FoldedLayer.search_comparators``)
    - input_mux: input-slice bits times the slices it chooses from up to the last live column (padding is trailing
      and constant zero), when SF > 1; read in two stages (``FoldedLayer.slice_group``), the group's bits times the
      live groups and the slice's bits times the group
    - vector_registers: each layer's whole input and output vector
    - pipeline_registers: with several folds, the input slice (twice, or its group and then the slice, with the slice's
      index) and the weight word's second register (at one
      fold, each DSP's held constant weight); products in LUTs, adder-tree stages, accumulators (several slices), and
      each search stage's accumulator copy and prefix
    - rom_registers: the read register of every ROM in logic (block RAM has its own; constant-threshold tables have none)
    - layers: one per layer (its counters and handshake)
    """
    per_layer = []
    for index, layer in enumerate(record["layers"]):
        thresholds = index not in without_thresholds
        roms = [rom for rom in record["roms"] if rom["layer"] == index]
        counts = dict.fromkeys((*LUT_TERMS, *FF_TERMS), 0.0)
        counts["rom_logic"], counts["rom_registers"] = _rom_counts(roms, thresholds)
        weight_word = next((rom["live_bits"] for rom in roms if rom["name"] == "weight_rom"), 0)
        terms = {**_logic_counts(layer, thresholds), **_register_counts(layer, weight_word, thresholds)}
        for term, value in terms.items():
            counts[term] += value
        counts["layers"] += 1
        per_layer.append(counts)
    return per_layer


def _rom_counts(roms: list[dict], thresholds: bool) -> tuple[float, float]:
    """A layer's ROMs in logic: their LUTs (rom_logic) and the bits of their read registers (rom_registers).

    Without thresholds (``layer_features``) the threshold ROMs are not built; ROMs in block RAM
    cost neither (they have their own register), and a ROM read within its stage has no register.
    """
    logic, registers = 0.0, 0.0
    for rom in roms:
        if rom["name"].startswith("threshold") and not thresholds:
            continue
        if not rom["block"] and rom["live_words"]:
            logic += placement.logic_luts(rom["live_bits"], rom["live_words"])
            if not rtl.FoldedLayer.read_within_stage(rom["name"]):
                registers += rom["live_bits"]
    return logic, registers


def _product_bits(layer: dict) -> int:
    """Bits of a layer's products: weight bits plus input bits, and one more for an unsigned input (signed in the product)."""
    return layer["weight_bits"] + layer["input_bits"] + (0 if layer["input_signed"] else 1)


def _accumulates(layer: dict) -> bool:
    """Whether a layer sums each output over several input slices (SF > 1), which takes an accumulator and an input mux."""
    return layer["columns"] // layer["simd"] > 1


def _logic_counts(layer: dict, thresholds: bool) -> dict[str, int]:
    """A layer's LUT terms but its ROMs' and its own (``layer_features`` says what each counts)."""
    lanes, acc, weight_bits = layer["live_lanes"], layer["accumulator_bits"], layer["weight_bits"]
    product_bits = _product_bits(layer)
    lut_products = layer["live_products"] - layer["dsp_products"]
    tree = sum(max(count - 1, 0) * (product_bits + rtl.tree_levels(count)) for count in layer["lane_products"])
    return {
        "product": lut_products * weight_bits * (product_bits - weight_bits) if layer["cycles"] > 1 else 0,
        "constant_product": layer["constant_product_adders"] * product_bits,
        "adder": tree + lanes * acc * _accumulates(layer),
        "comparator": lanes * layer["search_comparators"] * acc * thresholds,
        "input_mux": _input_mux_bits(layer),
    }


def _input_mux_bits(layer: dict) -> int:
    """The input_mux term of a layer that accumulates (none otherwise): input-slice bits times the slices chosen from."""
    if not _accumulates(layer):
        return 0
    simd_bits = layer["live_simd"] * layer["input_bits"]
    group = layer.get("slice_group", 1)  # records of RTL generator 2 and before read every slice in one stage
    # slices of padding (the trailing columns) are constant zero: only slices with a live column are chosen from
    live_slices = min(layer["columns"] // layer["simd"], math.ceil(layer["live_columns"] / layer["simd"]))
    if group == 1:
        return simd_bits * live_slices
    return simd_bits * group * (math.ceil(live_slices / group) + 1)  # the slice's group among the live groups, then the slice


def _register_counts(layer: dict, weight_word: int, thresholds: bool) -> dict[str, int]:
    """A layer's FF terms but its ROMs' and its own; ``weight_word``: the live bits of its weight ROM's word."""
    lanes, acc, input_bits = layer["live_lanes"], layer["accumulator_bits"], layer["input_bits"]
    product_bits = _product_bits(layer)
    group = layer.get("slice_group", 1)
    return {
        "vector_registers": layer["live_columns"] * input_bits + layer["live_rows"] * layer["output_bits"],
        "pipeline_registers": (
            ((group + 1) * layer["live_simd"] * input_bits + (group.bit_length() - 1) + weight_word) * (layer["cycles"] > 1)
            + layer["dsp_products"] * layer["weight_bits"] * (layer["cycles"] == 1)  # a constant weight held for its DSP
            + (layer["live_products"] - layer["dsp_products"]) * product_bits
            + _tree_register_bits(layer["lane_products"], product_bits, acc, layer["tree_stages"])
            + lanes * acc * _accumulates(layer)
            + lanes * _search_register_bits(layer) * thresholds
        ),
    }


def features(record: dict) -> dict[str, float]:
    """The design's counts: the sum of ``layer_features`` over its layers."""
    total = dict.fromkeys((*LUT_TERMS, *FF_TERMS), 0.0)
    for counts in layer_features(record):
        for term, value in counts.items():
            total[term] += value
    return total
