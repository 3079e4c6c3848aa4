"""What a trial scores: the FP32 parity band and margin, the objective vector, constraints, Pareto sets and hypervolume."""

from objectives.parity import Fp32Band, ObjectivesInputError, ParityVerdict, parity
from objectives.score import CONSTRAINTS, DIRECTIONS, OBJECTIVES, Objective, TrialScore, score

__all__ = [
    "CONSTRAINTS",
    "DIRECTIONS",
    "OBJECTIVES",
    "Fp32Band",
    "Objective",
    "ObjectivesInputError",
    "ParityVerdict",
    "TrialScore",
    "parity",
    "score",
]
