"""The candidate a search proposes: hidden width, core/input/output bits and folding, with their ranges.

Training takes its own ``PolicyConfig`` and never imports this package; the ``dse`` driver maps one to the other.
"""

from search_spaces.space import (
    FIT,
    PAPER_BITS,
    PAPER_FOLDINGS,
    PAPER_WIDTHS,
    Candidate,
    SearchSpace,
    SearchSpaceError,
    parse_values,
)

__all__ = [
    "FIT",
    "PAPER_BITS",
    "PAPER_FOLDINGS",
    "PAPER_WIDTHS",
    "Candidate",
    "SearchSpace",
    "SearchSpaceError",
    "parse_values",
]
