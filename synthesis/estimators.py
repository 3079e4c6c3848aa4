"""The resource figures of a folded design by each estimator: the hardware model, or FINN's analytical estimate.

``synthesis.estimate`` folds a design with FINN and turns these into a ``HardwareReport``.
"""

from __future__ import annotations

from dataclasses import dataclass

from synthesis import devices, finn_adapter, model, rtl
from synthesis.lowering import IntegerPolicy
from synthesis.report import LayerEstimate

FF_NOTE = "FFs not estimated: FINN's estimator has no flip-flop model, so FF fit is not checked; power takes FFs = LUTs"
FIFO_NOTE = "FIFOs between layers not counted: FINN sizes them by RTL simulation, which needs Vivado"
FINN_TIMING_NOTE = "timing not checked: FINN's estimate has no timing model; 100 MHz is assumed"
TIMING_NOTE = (
    "timing estimated: the longest register-to-register path from the RTL's stages (synthesis.timing: Project X-Ray's "
    "Artix-7 cell delays as yosys ships them, 0.6 ns assumed per routed net), not placed and routed"
)


@dataclass(frozen=True)
class Resources:
    """What one estimator says of a folded design besides its fit and power."""

    layers: tuple[LayerEstimate, ...]
    ffs: int | None
    """None from FINN's estimate (FINN has no FF model)"""
    latency_cycles: int
    interval_cycles: float
    critical_path_ns: float | None
    """None: timing not checked (FINN)"""
    estimator: str
    notes: tuple[str, ...]


def folding_of_graph(graph) -> tuple[list, list[tuple[int, int]], list[str]]:
    """A folded graph's MVAU nodes, their (PE, SIMD), and their ``ram_style`` ("auto" unless a folding file set it)."""
    mvaus = finn_adapter.mvau_nodes(graph)
    folding = [(finn_adapter.layer_attribute(node, "PE"), finn_adapter.layer_attribute(node, "SIMD")) for node in mvaus]
    return mvaus, folding, [finn_adapter.layer_attribute(node, "ram_style") for node in mvaus]


def model_resources(policy: IntegerPolicy, graph, settings) -> Resources:
    """The hardware model's price of ``policy`` at ``graph``'s folding (``settings``: a ``SynthesisSettings``)."""
    mvaus, folding, styles = folding_of_graph(graph)
    placed, price = model.estimate(policy, folding, settings, weight_styles=styles)
    layers = tuple(_model_layer(node, layer, priced, layer.cycles) for node, layer, priced in zip(mvaus, placed, price.layers))
    calibration = model.hardware_model().calibrations[settings.calibration]
    notes = (
        f"resources: synthesis.model, hardware model {devices.HARDWARE_MODEL_VERSION}, calibration "
        f"{settings.calibration}: {calibration.source}",
        f"latency and interval: the RTL's pipeline (synthesis.rtl, checked by Verilator); {TIMING_NOTE}",
    )
    return Resources(layers, sum(layer.ffs for layer in layers), price.latency_cycles, price.interval_cycles,
                     price.critical_path_ns, f"model ({settings.calibration})", notes)  # fmt: skip


def finn_resources(graph, settings) -> Resources:
    """FINN's own analytical estimate of ``graph`` (folded, with its data-width converters), and its cycle model."""
    cycles, performance = finn_adapter.cycle_estimates(graph)
    resources = finn_adapter.resource_estimates(graph, settings.device)
    layers = tuple(_finn_layer(node, resources[node.name], int(cycles[node.name])) for node in graph.graph.node)
    return Resources(layers, None, int(performance["critical_path_cycles"]), performance["max_cycles"], None, "finn",
                     (FF_NOTE, FIFO_NOTE, FINN_TIMING_NOTE))  # fmt: skip


def _finn_layer(node, used: dict, cycles: int) -> LayerEstimate:
    is_mvau = node.op_type.startswith("MVAU")
    return LayerEstimate(
        name=node.name,
        op_type=node.op_type,
        cycles=cycles,
        luts=int(used["LUT"]),
        bram18=int(used["BRAM_18K"]),
        dsps=int(used["DSP"]),
        rows=finn_adapter.layer_attribute(node, "MH") if is_mvau else None,
        columns=finn_adapter.layer_attribute(node, "MW") if is_mvau else None,
        pe=finn_adapter.layer_attribute(node, "PE") if is_mvau else None,
        simd=finn_adapter.layer_attribute(node, "SIMD") if is_mvau else None,
        weight_memory=finn_adapter.layer_attribute(node, "ram_style") if is_mvau else None,
    )

def _model_layer(node, layer: rtl.FoldedLayer, priced: model.LayerPrice, cycles: int) -> LayerEstimate:
    """An MVAU priced by the model; its memory and multiplier styles are those ``dse export --finn`` asks FINN for."""
    return LayerEstimate(
        name=node.name,
        op_type=node.op_type,
        cycles=cycles,
        luts=round(priced.luts),
        bram18=priced.bram18,
        dsps=priced.dsps,
        rows=layer.rows,
        columns=layer.columns,
        pe=layer.pe,
        simd=layer.simd,
        weight_memory=priced.weight_memory,
        threshold_memory=priced.threshold_memory,
        multipliers=multipliers(layer),
        ffs=round(priced.ffs),
    )


def multipliers(layer: rtl.FoldedLayer) -> str:
    """Where a placed layer's products are: "dsp", "lut", or "dsp+lut" when the device's DSPs ran out within it."""
    on_dsp, live = len(layer.dsp_units), len(layer.product_units)
    return "lut" if on_dsp == 0 else "dsp" if on_dsp == live else "dsp+lut"
