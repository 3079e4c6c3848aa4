"""What a trial scores: the FP32 parity band and margin, the objective vector, constraints, Pareto sets and hypervolume."""

from objectives.parity import Fp32Band, ObjectivesInputError, ParityVerdict, parity
from objectives.score import CONSTRAINTS, DIRECTIONS, OBJECTIVES, Objective, TrialScore, objectives_for, score

__all__ = [
    "CONSTRAINTS",
    "DIRECTIONS",
    "OBJECTIVES",
    "Fp32Band",
    "Objective",
    "ObjectivesInputError",
    "ParityVerdict",
    "TrialScore",
    "objectives_for",
    "parity",
    "score",
]
