"""Every contact with finn-plus, and every workaround it needs, in one module.

An upgrade of finn-plus should touch only this file. What it relies on (1.6.1):

- FINN's transformations and analysis passes are called directly, in the order of
  FINN's builder (convert to HW layers, minimize bit widths, specialize, fold,
  estimate). The builder itself is not imported: ``finn.builder.build_dataflow``
  imports the RTL simulator at import time, which needs a Vivado installation.
- FINN reports through the ``finn_logger`` logger and, for SetFolding, warns when a
  target is missed. Those messages are caught per call and returned as notes
  instead of being printed.
- Nothing here writes files: the estimate-only passes need no build folder.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.general import GiveUniqueNodeNames

from finn.analysis.fpgadataflow.dataflow_performance import dataflow_performance
from finn.analysis.fpgadataflow.exp_cycles_per_layer import exp_cycles_per_layer
from finn.analysis.fpgadataflow.res_estimation import res_estimation
from finn.transformation.fpgadataflow.annotate_cycles import AnnotateCycles
from finn.transformation.fpgadataflow.convert_to_hw.quantized_matrix_vector_activation import (
    InferQuantizedMatrixVectorActivation,
)
from finn.transformation.fpgadataflow.insert_dwc import InsertDWC
from finn.transformation.fpgadataflow.minimize_accumulator_width import MinimizeAccumulatorWidth
from finn.transformation.fpgadataflow.minimize_weight_bit_width import MinimizeWeightBitWidth
from finn.transformation.fpgadataflow.set_folding import SetFolding
from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers
from finn.transformation.general import ApplyConfig
from finn.util.logging import log as finn_log

from synthesis.errors import FinnFailure

class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(" ".join(record.getMessage().split()))


@contextmanager
def finn_call(what: str) -> Iterator[list[str]]:
    """Run FINN code quietly: its warnings land in the yielded list, its errors become FinnFailure."""
    collect = _Collect()
    saved = finn_log.handlers[:], finn_log.propagate
    finn_log.handlers[:] = [collect]
    finn_log.propagate = False
    try:
        yield collect.messages
    except Exception as error:  # FINN raises plain Exceptions, AssertionErrors and its own types alike.
        message = " ".join(str(error).split()) or type(error).__name__
        raise FinnFailure(f"FINN failed to {what}: {message}") from error
    finally:
        finn_log.handlers[:], finn_log.propagate = saved


def mvau_nodes(model: ModelWrapper) -> list:
    return [node for node in model.graph.node if node.op_type.startswith("MVAU")]


def to_hardware_layers(model: ModelWrapper, part: str) -> ModelWrapper:
    """MatMul + MultiThreshold pairs -> specialized MVAU layers, fully folded (PE = SIMD = 1)."""
    with finn_call("convert the network to hardware layers"):
        model = model.transform(InferQuantizedMatrixVectorActivation())
        model = model.transform(GiveUniqueNodeNames())
        model = model.transform(MinimizeWeightBitWidth()).transform(MinimizeAccumulatorWidth())
        for node in mvau_nodes(model):
            layer = getCustomOp(node)
            layer.set_nodeattr("mem_mode", "internal_decoupled")
            # Thresholds in LUTRAM are the only style FINN's estimator counts (in LUTs);
            # in BRAM they would be counted nowhere.
            layer.set_nodeattr("ram_style_thresholds", "distributed")
            # Multipliers of 2-8 bit operands in LUTs: the estimator's own model.
            layer.set_nodeattr("resType", "lut")
        model = model.transform(SpecializeLayers(part))
        return model.transform(GiveUniqueNodeNames())


def fold_to_target(model: ModelWrapper, target_cycles: int, mvau_wwidth_max: int) -> tuple[ModelWrapper, list[str]]:
    """FINN's folding search for at most ``target_cycles`` per input; notes say where it fell short."""
    with finn_call("fold the network") as notes:
        folded = copy.deepcopy(model).transform(
            SetFolding(target_cycles, mvau_wwidth_max=mvau_wwidth_max, two_pass_relaxation=True)
        )
    return folded, notes


def apply_folding(model: ModelWrapper, config: dict) -> ModelWrapper:
    """FINN's ApplyConfig with a folding config in FINN's JSON format."""
    with finn_call("apply the folding config"):
        return copy.deepcopy(model).transform(ApplyConfig(copy.deepcopy(config)))


def layer_attribute(node, name: str):
    return getCustomOp(node).get_nodeattr(name)


def set_weight_memory(model: ModelWrapper, part: str, choice: str, share: Callable[[int, float], float]) -> None:
    """Set the ``ram_style`` FINN left at "auto"; for "cheaper", ``share(luts, bram18)`` ranks the options."""
    with finn_call("estimate weight memories"):
        for node in mvau_nodes(model):
            layer = getCustomOp(node)
            if layer.get_nodeattr("ram_style") != "auto":
                continue
            if choice != "cheaper":
                layer.set_nodeattr("ram_style", choice)
                continue
            layer.set_nodeattr("ram_style", "block")
            block = share(layer.lut_estimation(part), layer.bram_estimation(part))
            layer.set_nodeattr("ram_style", "distributed")
            distributed = share(layer.lut_estimation(part), layer.bram_estimation(part))
            layer.set_nodeattr("ram_style", "block" if block < distributed else "distributed")


def finish(model: ModelWrapper, part: str) -> ModelWrapper:
    """Data-width converters where one layer's output stream does not match the next one's input,
    and every layer's cycle count annotated for the performance analysis."""
    with finn_call("insert data-width converters"):
        model = model.transform(InsertDWC()).transform(SpecializeLayers(part))
        return model.transform(GiveUniqueNodeNames()).transform(AnnotateCycles())


def cycle_estimates(model: ModelWrapper) -> tuple[dict, dict]:
    """(cycles per layer, dataflow performance) from FINN's cycle model."""
    with finn_call("estimate cycles"):
        return model.analysis(exp_cycles_per_layer), model.analysis(dataflow_performance)


def resource_estimates(model: ModelWrapper, part: str) -> dict:
    """Resources per layer from FINN's analytical model."""
    with finn_call("estimate resources"):
        return model.analysis(lambda m: res_estimation(m, part))
