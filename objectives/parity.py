"""FP32 parity (the paper; docs/search.md): the band a quantized configuration must reach."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


class ObjectivesInputError(ValueError):
    """Bad input to an objective: the message names the value and what is allowed."""


SPREAD = "sample std over seeds (ddof 1)"
"""how every spread over seeds or models is computed (the FP32 band, a candidate's spread, the early-stop curve band)"""


def seed_std(values) -> float:
    """The spread of per-seed (or per-model) values: the sample standard deviation (ddof 1); 0 for a single value.

    The population std (ddof 0) would make the FP32 band 18-29% narrower at 2-3
    seeds, and stricter parity than the seeds' own scatter supports.
    """
    values = np.asarray(values, dtype=float)
    return float(values.std(ddof=1)) if len(values) > 1 else 0.0


@dataclass(frozen=True)
class Fp32Band:
    """FP32 mean +- one std over seeds (``seed_std``), where each seed contributes its mean return."""

    mean: float
    std: float
    seeds: int

    @classmethod
    def from_seed_returns(cls, seed_returns: list[float]) -> Fp32Band:
        if len(seed_returns) == 0:
            raise ObjectivesInputError("an FP32 band needs the returns of at least one seed")
        values = np.asarray(seed_returns, dtype=float)
        return cls(float(values.mean()), seed_std(values), len(values))

    @property
    def lower(self) -> float:
        return self.mean - self.std

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ParityVerdict:
    feasible: bool
    """the configuration's score lies in the FP32 band or above it"""
    margin: float
    """score minus the band's lower edge: >= 0 is parity"""


def parity(seed_returns: list[float], band: Fp32Band) -> ParityVerdict:
    """Does a configuration (its seeds' mean returns) match FP32?"""
    if len(seed_returns) == 0:
        raise ObjectivesInputError("parity needs the returns of at least one seed")
    margin = float(np.mean(seed_returns)) - band.lower
    return ParityVerdict(margin >= 0, margin)
