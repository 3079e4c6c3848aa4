"""The candidate a search proposes and the ranges it is drawn from.

A ``Candidate`` is a policy shape plus a folding choice. Training sees only the
shape and bits (folding plays no part in it), synthesis sees the folding too.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

MIN_BITS, MAX_BITS = 2, 8
PAPER_WIDTHS = (16, 32, 64, 128, 256)
PAPER_BITS = tuple(range(MIN_BITS, MAX_BITS + 1))
FIT = "fit"
"""folding choice: the highest throughput target (a power of ten) whose design fits the device (SPEC section 6)"""
TARGET_POWERS = tuple(range(2, 10))
PAPER_FOLDINGS = (*(f"1e{power}" for power in TARGET_POWERS), FIT)
AXES = ("widths", "core_bits", "input_bits", "output_bits", "foldings")


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
    folding: str = FIT
    """"fit", or a throughput target "1eK" (actions/s) the folding search must meet"""

    @property
    def target_fps(self) -> float | None:
        """The throughput target, or None for "highest target that fits"."""
        return None if self.folding == FIT else float(self.folding)

    @property
    def label(self) -> str:
        return f"w{self.width}-c{self.core_bits}-i{self.input_bits}-o{self.output_bits}-{self.folding}"

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """What training depends on: width and bits, not folding."""
        return (self.width, self.core_bits, self.input_bits, self.output_bits)

    def params(self) -> dict[str, Any]:
        """The candidate as Optuna trial parameters (names as the dashboard shows them)."""
        return asdict(self)


class Trial(Protocol):
    """The part of ``optuna.trial.Trial`` a search space draws with."""

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1) -> int: ...

    def suggest_categorical(self, name: str, choices: Any) -> Any: ...


def parse_values(axis: str, text: str | int | list) -> tuple:
    """``"2..8"``, ``"16,32,64"``, ``"1e4,fit"``, a YAML list or one value -> a tuple of values for ``axis``."""
    if isinstance(text, list):
        items = [str(item) for item in text]
    else:
        items = [item.strip() for item in str(text).split(",")]
    items = [item for item in items if item]
    values: list = []
    for item in items:
        if axis == "foldings":
            values.append(_folding(item))
            continue
        match = re.fullmatch(r"(-?\d+)\s*\.\.\s*(-?\d+)", item)
        if match:
            low, high = int(match[1]), int(match[2])
            if low > high:
                raise SearchSpaceError(f"{axis} range {item!r} is empty: write LOW..HIGH with LOW <= HIGH")
            values.extend(range(low, high + 1))
        elif re.fullmatch(r"-?\d+", item):
            values.append(int(item))
        else:
            raise SearchSpaceError(f"{axis} value {item!r} is not an integer: write a list (16,32) or a range (2..8)")
    return tuple(values)


def _folding(item: str) -> str:
    """"fit", or a power of ten however written (1e4, 1e+04, 10000) as "1eK"."""
    if item == FIT:
        return FIT
    for power in TARGET_POWERS:
        try:
            if float(item) == 10.0**power:
                return f"1e{power}"
        except ValueError:
            break
    raise SearchSpaceError(
        f"folding {item!r} is unknown: use 'fit' or a throughput target 1e{TARGET_POWERS[0]}..1e{TARGET_POWERS[-1]}"
    )


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
    foldings: tuple[str, ...] = field(default=PAPER_FOLDINGS)
    """"fit" and/or throughput targets 1e2..1e9"""

    def __post_init__(self) -> None:
        for axis in AXES:
            values = getattr(self, axis)
            if len(values) == 0:
                raise SearchSpaceError(f"{axis.replace('_', '-')} is empty: give at least one value")
            if len(set(values)) != len(values):
                raise SearchSpaceError(f"{axis.replace('_', '-')} {list(values)} repeats a value")
        for width in self.widths:
            if not isinstance(width, int) or width < 1:
                raise SearchSpaceError(f"width {width!r} is invalid: widths are integers >= 1")
        for axis in ("core_bits", "input_bits", "output_bits"):
            for bits in getattr(self, axis):
                if not isinstance(bits, int) or not MIN_BITS <= bits <= MAX_BITS:
                    raise SearchSpaceError(
                        f"{axis.replace('_', '-')} {bits!r} is outside the allowed {MIN_BITS}..{MAX_BITS}"
                    )
        object.__setattr__(self, "foldings", tuple(_folding(str(folding)) for folding in self.foldings))
        if len(set(self.foldings)) != len(self.foldings):
            raise SearchSpaceError(f"foldings {list(self.foldings)} repeats a value")
        # a canonical order: the same space always has the same Optuna distributions
        for axis in ("widths", "core_bits", "input_bits", "output_bits"):
            object.__setattr__(self, axis, tuple(sorted(getattr(self, axis))))
        object.__setattr__(self, "foldings", tuple(sorted(self.foldings, key=_folding_order)))

    @classmethod
    def from_mapping(cls, data: dict, base: SearchSpace | None = None) -> SearchSpace:
        """A space from a YAML/CLI mapping of axis -> values; axes not named keep ``base``'s (or the paper's) ranges."""
        if not isinstance(data, dict):
            raise SearchSpaceError(f"a search space must be a mapping of {', '.join(AXES)} to values, got {data!r}")
        unknown = sorted(set(data) - set(AXES))
        if unknown:
            raise SearchSpaceError(f"search space axis {', '.join(unknown)} is unknown: use {', '.join(AXES)}")
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
            and candidate.folding in self.foldings
        )

    def suggest(self, trial: Trial) -> Candidate:
        """Draw a candidate: contiguous integer ranges as ordered integers, other axes as categories."""
        return Candidate(
            width=_suggest_int(trial, "width", self.widths),
            core_bits=_suggest_int(trial, "core_bits", self.core_bits),
            input_bits=_suggest_int(trial, "input_bits", self.input_bits),
            output_bits=_suggest_int(trial, "output_bits", self.output_bits),
            folding=trial.suggest_categorical("folding", list(self.foldings)),
        )

    def to_dict(self) -> dict[str, list]:
        return {axis: list(getattr(self, axis)) for axis in AXES}


def _folding_order(folding: str) -> float:
    return float("inf") if folding == FIT else float(folding)


def _suggest_int(trial: Trial, name: str, values: tuple[int, ...]) -> int:
    contiguous = values == tuple(range(values[0], values[-1] + 1))
    if contiguous:
        return trial.suggest_int(name, values[0], values[-1])
    return trial.suggest_categorical(name, list(values))
