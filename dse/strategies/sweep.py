"""Sensitivity sweeps (the paper, sec. 2): return against bitwidth for one quantization scope, or against width.

A sweep is a study like any other (same driver, Ray executor, cache, storage and resume) whose candidates are
fixed in advance: ``strategy="sweep"``; its plan wants them all at once.
"""

from __future__ import annotations

from collections.abc import Mapping

from dse.storage.settings import StudyInputError
from dse.strategies.staged import Plan
from search_spaces import Candidate, SearchSpace
from training import SCOPES

REFERENCE_BITS = 8
"""bits of every part a sweep does not vary (the paper, sec. 2)"""


def scope_candidates(scope: str, bits: tuple[int, ...], width: int) -> tuple[Candidate, ...]:
    """``bits`` on ``scope``, 8 bits elsewhere (the same mapping as ``PolicyConfig.for_scope``)."""
    if scope not in SCOPES:
        raise StudyInputError(f"scope {scope!r} is unknown: choose one of {', '.join(SCOPES)}")
    return tuple(
        Candidate(
            width=width,
            core_bits=b if scope in ("all", "core") else REFERENCE_BITS,
            input_bits=b if scope in ("all", "input") else REFERENCE_BITS,
            output_bits=b if scope in ("all", "output") else REFERENCE_BITS,
        )
        for b in bits
    )


def width_candidates(widths: tuple[int, ...], core_bits: int, input_bits: int, output_bits: int) -> tuple[Candidate, ...]:
    return tuple(Candidate(width, core_bits, input_bits, output_bits) for width in widths)


def covering_space(candidates: tuple[Candidate, ...]) -> SearchSpace:
    """The smallest space holding every candidate (Optuna records each parameter against it)."""
    return SearchSpace(
        widths=tuple(sorted({c.width for c in candidates})),
        core_bits=tuple(sorted({c.core_bits for c in candidates})),
        input_bits=tuple(sorted({c.input_bits for c in candidates})),
        output_bits=tuple(sorted({c.output_bits for c in candidates})),
    )


def swept_axis(candidates: tuple[Candidate, ...]) -> str:
    """The axis a sweep varies: width, or the scope whose bits move."""
    if len({c.width for c in candidates}) > 1:
        return "width"
    moving = [name for name in ("core_bits", "input_bits", "output_bits") if len({getattr(c, name) for c in candidates}) > 1]
    return "all" if len(moving) > 1 else (moving[0].removesuffix("_bits") if moving else "core")


class Sweep:
    """A fixed list of candidates, all wanted at once (the sensitivity sweeps of the paper, sec. 2)."""

    def __init__(self, candidates: tuple[Candidate, ...]):
        self.candidates = candidates

    @property
    def most_trials(self) -> int:
        return len(self.candidates)

    def plan(self, verdicts: Mapping[Candidate, bool]) -> Plan:
        missing = tuple(candidate for candidate in self.candidates if candidate not in verdicts)
        return Plan(1 if missing else 2, missing, None, ())
