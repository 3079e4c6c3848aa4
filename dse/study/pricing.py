"""What a candidate's designs cost before it trains: an untrained policy of its shape priced at every throughput target.

The hardware-aware search ranks every candidate of the space by these designs, and
the rungs of a multi-fidelity study rank paused candidates by them; both read one
cache here (the synthesis cache on disk keeps them across runs).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dse.study import scoring
from search_spaces import Candidate
from synthesis.estimate import SynthesisSettings
from training.envs import env_spaces


class HardwarePricer:
    """Designs of candidates of one env's policies, priced once per candidate."""

    def __init__(self, env_id: str, synthesis: SynthesisSettings, synth_cache: Path):
        self.env_id = env_id
        self.synthesis = synthesis
        self.synth_cache = synth_cache
        self._dims: tuple[int, int] | None = None
        self._designs: dict[Candidate, list] = {}

    def dims(self) -> tuple[int, int]:
        """The env's observation and action sizes, which a policy of a candidate's shape needs."""
        if self._dims is None:
            obs_dim, action_low, _ = env_spaces(self.env_id)
            self._dims = (obs_dim, len(action_low))
        return self._dims

    def designs(self, candidate: Candidate) -> list:
        """The candidate's designs (``synthesis`` reports), one per distinct folding."""
        if candidate not in self._designs:
            self._designs[candidate] = scoring.predicted_designs(candidate, self.dims(), self.synthesis, self.synth_cache)
        return self._designs[candidate]

    @property
    def width(self) -> int:
        """The hardware objectives: LUTs, latency and energy, or on a Lattice part (energy not estimated) the first two."""
        return 2 if self.synthesis.lattice else 3

    def fitting(self, candidate: Candidate) -> np.ndarray:
        """The hardware objectives of the designs that fit the device (n x width; none: 0 x width)."""
        rows = [hardware_objectives(design) for design in self.designs(candidate) if design.fits]
        return np.array(rows, dtype=float).reshape(-1, self.width)

    def ranked(self, candidate: Candidate) -> np.ndarray:
        """The hardware objectives of the designs that fit, or of all when none does: what a rung ranks it by."""
        designs = self.designs(candidate)
        fitting = [design for design in designs if design.fits] or designs
        return np.array([hardware_objectives(design) for design in fitting], dtype=float).reshape(-1, self.width)


def hardware_objectives(design) -> list[float]:
    """A design's LUTs, latency and energy, in the order of ``objectives.OBJECTIVES``; no energy where it is not
    estimated."""
    energy = [] if design.energy_per_action_j is None else [design.energy_per_action_j]
    return [design.luts, design.latency_s, *energy]
