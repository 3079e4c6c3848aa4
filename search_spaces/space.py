"""The candidate a search proposes and the ranges it is drawn from.

A ``Candidate`` is what training depends on: a policy's width and bit widths.
Folding is not an axis: each trained policy is mapped at every throughput target
(``synthesis.estimate.DEFAULT_TARGETS``), so the search never spends a training to
learn what the estimator knows.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np

MIN_BITS, MAX_BITS = 2, 8
PAPER_WIDTHS = (16, 32, 64, 128, 256)
PAPER_BITS = tuple(range(MIN_BITS, MAX_BITS + 1))
AXES = ("widths", "core_bits", "input_bits", "output_bits")
FOLDING_AXIS_GONE = (
    "foldings is no longer a search axis: every trained policy is mapped at every throughput target 1e2..1e9 "
    "and each of its designs can join the front; remove it"
)


class SearchSpaceError(ValueError):
    """A search space or candidate that cannot be searched: the message names the value and what is allowed."""


@dataclass(frozen=True)
class Candidate:
    """One point of the design space."""

    width: int
    """hidden width of both hidden layers"""
    core_bits: int
    """b_core: hidden-layer weights and hidden activations"""
    input_bits: int
    """b_in: the observation quantizer"""
    output_bits: int
    """b_out: the quantizer before tanh"""

    @property
    def label(self) -> str:
        return f"w{self.width}-c{self.core_bits}-i{self.input_bits}-o{self.output_bits}"

    def params(self) -> dict[str, Any]:
        """The candidate as Optuna trial parameters (names as the dashboard shows them)."""
        return asdict(self)


class Trial(Protocol):
    """The part of ``optuna.trial.Trial`` a search space draws with."""

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1) -> int: ...

    def suggest_categorical(self, name: str, choices: Any) -> Any: ...


EXCERPT_CHARS = 40
"""the most of a user's input an error message quotes: a file's content is not echoed back whole"""


def excerpt(text: str) -> str:
    """``text`` cut to EXCERPT_CHARS characters, as an error message quotes a user's input."""
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 3] + "..."


def parse_values(axis: str, text: str | int | list) -> tuple:
    """``"2..8"``, ``"16,32,64"``, a YAML list or one value -> a tuple of values for ``axis``."""
    if isinstance(text, list):
        items = [str(item) for item in text]
    else:
        items = [item.strip() for item in str(text).split(",")]
    items = [item for item in items if item]
    values: list = []
    for item in items:
        match = re.fullmatch(r"(-?\d+)\s*\.\.\s*(-?\d+)", item)
        if match:
            low, high = int(match[1]), int(match[2])
            if low > high:
                raise SearchSpaceError(f"{axis} range {excerpt(repr(item))} is empty: write LOW..HIGH with LOW <= HIGH")
            values.extend(range(low, high + 1))
        elif re.fullmatch(r"-?\d+", item):
            values.append(int(item))
        else:
            raise SearchSpaceError(f"{axis} value {excerpt(repr(item))} is not an integer: write a list (16,32) or a range (2..8)")
    return tuple(values)


@dataclass(frozen=True)
class SearchSpace:
    """Ranges of every candidate axis; the defaults are the paper's grids."""

    widths: tuple[int, ...] = PAPER_WIDTHS
    """hidden widths"""
    core_bits: tuple[int, ...] = PAPER_BITS
    """b_core values"""
    input_bits: tuple[int, ...] = PAPER_BITS
    """b_in values"""
    output_bits: tuple[int, ...] = (8,)
    """b_out values (fixed at 8 unless asked)"""

    def __post_init__(self) -> None:
        for axis in AXES:
            values = getattr(self, axis)
            if len(values) == 0:
                raise SearchSpaceError(f"{axis.replace('_', '-')} is empty: give at least one value")
            if len(set(values)) != len(values):
                raise SearchSpaceError(f"{axis.replace('_', '-')} {excerpt(repr(list(values)))} repeats a value")
        for width in self.widths:
            if not isinstance(width, int) or width < 1:
                raise SearchSpaceError(f"width {excerpt(repr(width))} is invalid: widths are integers >= 1")
        for axis in ("core_bits", "input_bits", "output_bits"):
            for bits in getattr(self, axis):
                if not isinstance(bits, int) or not MIN_BITS <= bits <= MAX_BITS:
                    raise SearchSpaceError(
                        f"{axis.replace('_', '-')} {excerpt(repr(bits))} is outside the allowed {MIN_BITS}..{MAX_BITS}"
                    )
        # a canonical order: the same space always has the same Optuna distributions
        for axis in AXES:
            object.__setattr__(self, axis, tuple(sorted(getattr(self, axis))))

    @classmethod
    def from_mapping(cls, data: dict, base: SearchSpace | None = None) -> SearchSpace:
        """A space from a YAML/CLI mapping of axis -> values; axes not named keep ``base``'s (or the paper's) ranges."""
        if not isinstance(data, dict):
            raise SearchSpaceError(
                f"a search space must be a mapping of {', '.join(AXES)} to values, got {type(data).__name__} {excerpt(repr(data))}"
            )
        if "foldings" in data:
            raise SearchSpaceError(FOLDING_AXIS_GONE)
        unknown = sorted(set(data) - set(AXES))
        if unknown:
            raise SearchSpaceError(f"search space axis {excerpt(', '.join(map(str, unknown)))} is unknown: use {', '.join(AXES)}")
        settings = asdict(base or cls())
        for axis, value in data.items():
            settings[axis] = parse_values(axis, value)
        return cls(**settings)

    @property
    def size(self) -> int:
        """Number of distinct candidates."""
        count = 1
        for axis in AXES:
            count *= len(getattr(self, axis))
        return count

    def contains(self, candidate: Candidate) -> bool:
        return (
            candidate.width in self.widths
            and candidate.core_bits in self.core_bits
            and candidate.input_bits in self.input_bits
            and candidate.output_bits in self.output_bits
        )

    def candidates(self) -> list[Candidate]:
        """Every candidate of the space."""
        return [Candidate(*values) for values in itertools.product(*(getattr(self, axis) for axis in AXES))]

    def space_filling(self, seed: int) -> list[Candidate]:
        """A Latin hypercube on the grid, as many candidates as the longest axis has values: every value of every axis appears.

        The start-up design of a search (instead of random draws): ``n`` strata per
        axis, stratum ``i`` standing for value ``i * len(values) // n``, so an axis
        of ``n`` or fewer values has each value at least once; each axis's strata are
        shuffled on their own (seeded, so a study repeats it).
        """
        axes = [getattr(self, axis) for axis in AXES]
        count = max(len(values) for values in axes)
        rng = np.random.default_rng(seed)
        columns = [[values[i * len(values) // count] for i in rng.permutation(count)] for values in axes]
        chosen = [Candidate(*point) for point in zip(*columns)]
        return list(dict.fromkeys(chosen))

    def suggest(self, trial: Trial) -> Candidate:
        """Draw a candidate: contiguous integer ranges as ordered integers, other axes as categories."""
        return Candidate(
            width=_suggest_int(trial, "width", self.widths),
            core_bits=_suggest_int(trial, "core_bits", self.core_bits),
            input_bits=_suggest_int(trial, "input_bits", self.input_bits),
            output_bits=_suggest_int(trial, "output_bits", self.output_bits),
        )

    def to_dict(self) -> dict[str, list]:
        return {axis: list(getattr(self, axis)) for axis in AXES}


def _suggest_int(trial: Trial, name: str, values: tuple[int, ...]) -> int:
    contiguous = values == tuple(range(values[0], values[-1] + 1))
    if contiguous:
        return trial.suggest_int(name, values[0], values[-1])
    return trial.suggest_categorical(name, list(values))
