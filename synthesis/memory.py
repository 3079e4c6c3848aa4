"""Block RAM as a ROM uses it: the aspect ratios of one block, and how many blocks a ROM takes."""

from __future__ import annotations

import math
from dataclasses import dataclass

#: RAMB18 aspect ratios (depth, width) of 7-series block RAM in simple dual port (UG473).
RAMB18_SHAPES = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))


def blocks_for(depth: int, width: int, shapes: tuple[tuple[int, int], ...] = RAMB18_SHAPES) -> int:
    """Blocks of ``shapes`` (RAMB18s by default) a ROM of ``depth`` words of ``width`` bits takes, in its best aspect
    ratio."""
    return min(math.ceil(depth / d) * math.ceil(width / w) for d, w in shapes)


def ramb18_count(depth: int, width: int) -> int:
    """RAMB18s a ROM of ``depth`` words of ``width`` bits takes, in its best aspect ratio."""
    return blocks_for(depth, width)


@dataclass(frozen=True)
class BlockMemory:
    """A part's block RAM as placement counts it: how many blocks, and the aspect ratios (depth, width) of one."""

    blocks: float
    shapes: tuple[tuple[int, int], ...] = RAMB18_SHAPES

    @classmethod
    def of_bram36(cls, bram36: float) -> BlockMemory:
        """A 7-series part's: two RAMB18s per BRAM36."""
        return cls(2 * bram36)
