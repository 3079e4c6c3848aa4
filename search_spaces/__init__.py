"""The candidate a search proposes: hidden width and core/input/output bits, with their ranges.

Training takes its own ``PolicyConfig`` and never imports this package; the ``dse`` driver maps one to the other.
"""

from search_spaces.space import (
    FOLDING_AXIS_GONE,
    PAPER_BITS,
    PAPER_WIDTHS,
    Candidate,
    SearchSpace,
    SearchSpaceError,
    parse_values,
)

__all__ = [
    "FOLDING_AXIS_GONE",
    "PAPER_BITS",
    "PAPER_WIDTHS",
    "Candidate",
    "SearchSpace",
    "SearchSpaceError",
    "parse_values",
]
