"""Integer-only lowering and FINN-style dataflow estimates (resources, latency, power) of a trained policy.

Filled by the synthesis issue; it reads a run folder's ``policy.onnx`` and ``checkpoint.pt``.
"""
