"""What a trial scores: the FP32 parity band and margin (and, with the search, the objective vector)."""

from objectives.parity import Fp32Band, ObjectivesInputError, ParityVerdict, parity

__all__ = ["Fp32Band", "ObjectivesInputError", "ParityVerdict", "parity"]
