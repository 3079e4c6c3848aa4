"""The staged rule (the paper, sec. 5): core bits at the widest width, then width, then input bits, each stage
keeping what reached parity.

A plan is a pure function of the verdicts seen so
far, so a resumed study re-plans from its stored trials and asks only for what is
missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from search_spaces import Candidate, SearchSpace

STRATEGIES = ("search", "staged", "random")
"""what ``dse run --strategy`` offers; ``dse sweep`` makes studies of the fourth kind, sweep"""
REFERENCE_BITS = 8
"""b_in and b_out of the rule's first two stages"""


@dataclass(frozen=True)
class Plan:
    """Where a planned strategy stands given the verdicts so far."""

    stage: int
    """staged rule: 1 core bits, 2 width, 3 input bits, 4 finished; a sweep: 1, then 2 when finished"""
    wanted: tuple[Candidate, ...]
    """candidates of the current stage still without a verdict (all of them may run at once)"""
    pick: Candidate | None
    """the rule's final configuration once every stage has its verdicts"""
    notes: tuple[str, ...]
    """stages where no value reached parity (the rule then keeps the most precise value, or stops)"""


class StagedRule:
    """The paper's staged rule (docs/search.md), on the grids of a search space.

    1. b_in = b_out = 8, the widest width: the smallest b_core that matches FP32;
    2. with that b_core, widths from widest to narrowest: the smallest that matches;
    3. with both fixed, the smallest b_in that matches.

    Where the paper is silent (``dse.storage.settings.SCANS``, ``NO_MATCH``): "the smallest that matches" is by
    default the smallest of the whole sweep (``scan="anywhere"``), or the last before the
    first failure scanning down from the most precise value (``"down"``); a stage where
    nothing matches keeps its most precise value (``no_match="most-precise"``) or ends
    the rule with no pick (``"stop"``).

    Scanning anywhere, each stage sweeps its whole grid at once, as the paper's sensitivity
    sweeps do; scanning down, it asks one candidate at a time. Each trained candidate is
    mapped at every throughput target like a search's, and its verdict (FP32 parity) is
    all the rule reads; the pick's design is the paper's choice (docs/hardware.md): the
    highest target that fits.
    """

    def __init__(self, space: SearchSpace, scan: str = "anywhere", no_match: str = "most-precise"):
        self.space = space
        self.scan = scan
        self.no_match = no_match
        self.width = max(space.widths)
        self.input_bits = _closest(space.input_bits, REFERENCE_BITS)
        self.output_bits = _closest(space.output_bits, REFERENCE_BITS)

    @classmethod
    def of(cls, settings) -> StagedRule:
        """The rule as a study's settings interpret it (``StudySettings.staged_scan``, ``staged_no_match``)."""
        return cls(settings.space, settings.staged_scan, settings.staged_no_match)

    @property
    def most_trials(self) -> int:
        """An upper bound on the trials the rule asks for (stages share candidates, so it may ask fewer)."""
        return len(self.space.core_bits) + len(self.space.widths) + len(self.space.input_bits)

    def _candidate(self, width: int, core_bits: int, input_bits: int) -> Candidate:
        return Candidate(width, core_bits, input_bits, self.output_bits)

    def stages(self, core_bits: int | None = None, width: int | None = None) -> list[list[Candidate]]:
        """The sweeps of stages 1, 2 (once b_core is known) and 3 (once the width is known)."""
        sweeps = [[self._candidate(self.width, bits, self.input_bits) for bits in self.space.core_bits]]
        if core_bits is not None:
            sweeps.append([self._candidate(w, core_bits, self.input_bits) for w in sorted(self.space.widths, reverse=True)])
        if core_bits is not None and width is not None:
            sweeps.append([self._candidate(width, core_bits, bits) for bits in self.space.input_bits])
        return sweeps

    def plan(self, verdicts: Mapping[Candidate, bool]) -> Plan:
        """``verdicts``: FP32 parity (True/False) of every candidate finished so far."""
        chosen: list[int] = []
        notes: list[str] = []
        names = ("core bits", "width", "input bits")
        for stage in range(3):
            sweep = self.stages(*chosen)[stage]
            if self.scan == "down":
                sweep = _scanned_down(sweep, stage, verdicts)
            missing = tuple(candidate for candidate in sweep if candidate not in verdicts)
            if missing:
                return Plan(stage + 1, missing, None, tuple(notes))
            values = [_axis_value(candidate, stage) for candidate in sweep]
            matching = [value for value, candidate in zip(values, sweep) if verdicts[candidate]]
            if matching:
                chosen.append(min(matching))
            elif self.no_match == "stop":
                notes.append(f"stage {stage + 1}: no {names[stage]} value reached FP32 parity; the rule stops without a pick")
                return Plan(4, (), None, tuple(notes))
            else:
                most_precise = max(values)
                notes.append(f"stage {stage + 1}: no {names[stage]} value reached FP32 parity; kept {most_precise}")
                chosen.append(most_precise)
        core_bits, width, input_bits = chosen
        return Plan(4, (), self._candidate(width, core_bits, input_bits), tuple(notes))


def _scanned_down(sweep: list[Candidate], stage: int, verdicts: Mapping[Candidate, bool]) -> list[Candidate]:
    """The part of a sweep a scan down reaches: most precise first, up to the first value that fails or has no verdict."""
    reached = []
    for candidate in sorted(sweep, key=lambda candidate: _axis_value(candidate, stage), reverse=True):
        reached.append(candidate)
        if not verdicts.get(candidate, False):
            break
    return reached


def _axis_value(candidate: Candidate, stage: int) -> int:
    return (candidate.core_bits, candidate.width, candidate.input_bits)[stage]


def _closest(values: tuple[int, ...], wanted: int) -> int:
    """``wanted`` when the grid has it, else the grid's nearest value (ties: the larger)."""
    return min(values, key=lambda value: (abs(value - wanted), -value))
