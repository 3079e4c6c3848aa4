"""Pareto sets and hypervolume over objective vectors in any mix of directions."""

from __future__ import annotations

from dataclasses import dataclass

import moocore
import numpy as np

from objectives.score import DIRECTIONS

REFERENCE_MARGIN = 0.1
"""the hypervolume reference point lies this fraction of each objective's span beyond its worst value"""


def losses(values: np.ndarray | list, directions: tuple[str, ...] | None = None) -> np.ndarray:
    """Objective vectors -> vectors to minimize (maximized objectives negated); ``directions`` None: the first of
    ``DIRECTIONS`` as many as a vector has (a study's objectives, with or without energy)."""
    values = np.asarray(values, dtype=float)
    if directions is None:
        directions = DIRECTIONS[: values.shape[-1]] if values.ndim == 2 or values.size else DIRECTIONS
    values = values.reshape(-1, len(directions))
    signs = np.array([-1.0 if direction == "maximize" else 1.0 for direction in directions])
    return values * signs


def dominates(a: np.ndarray, b: np.ndarray) -> bool:
    """Loss vector ``a`` is no worse than ``b`` everywhere and better somewhere."""
    return bool(np.all(a <= b) and np.any(a < b))


def pareto_mask(loss_values: np.ndarray) -> np.ndarray:
    """True for each vector no other vector dominates (equal vectors are all kept)."""
    loss_values = np.asarray(loss_values, dtype=float)
    keep = np.ones(len(loss_values), dtype=bool)
    for i, point in enumerate(loss_values):
        others = np.delete(loss_values, i, axis=0)
        keep[i] = not np.any(np.all(others <= point, axis=1) & np.any(others < point, axis=1))
    return keep


def dominated_by_front(point: np.ndarray, front: np.ndarray) -> bool:
    return any(dominates(other, point) for other in np.asarray(front, dtype=float))


class RunningFront:
    """The non-dominated objective vectors seen so far, kept as points arrive (equal vectors are all kept).

    The driver's progress line counts it after every trial; recomputing the front
    from all trials each time would grow with the study.
    """

    def __init__(self, directions: tuple[str, ...] | None = None):
        self.directions = directions
        self._front: list[np.ndarray] = []

    def add(self, values) -> None:
        point = losses(values, self.directions)[0]
        if any(dominates(other, point) for other in self._front):
            return
        self._front = [other for other in self._front if not dominates(point, other)] + [point]

    def __len__(self) -> int:
        return len(self._front)

    def covers(self, values) -> bool:
        """Some point of the front dominates ``values`` (or equals it): adding it would not grow the front."""
        point = losses(values, self.directions)[0]
        return any(dominates(other, point) or np.array_equal(other, point) for other in self._front)


@dataclass(frozen=True)
class Normalization:
    """Maps losses to [0, 1] per objective, so LUTs, seconds, joules and returns weigh alike in a hypervolume.

    Built once from every point being compared, so hypervolumes of several studies are on one scale.
    """

    low: np.ndarray
    span: np.ndarray

    @classmethod
    def fit(cls, loss_values: np.ndarray) -> Normalization:
        loss_values = np.asarray(loss_values, dtype=float)
        low = loss_values.min(axis=0)
        span = loss_values.max(axis=0) - low
        return cls(low, np.where(span > 0, span, 1.0))

    def __call__(self, loss_values: np.ndarray) -> np.ndarray:
        return (np.asarray(loss_values, dtype=float) - self.low) / self.span

    @property
    def reference(self) -> np.ndarray:
        return np.full(len(self.low), 1.0 + REFERENCE_MARGIN)

    @property
    def maximum(self) -> float:
        """The largest hypervolume there is: one point at the best of every objective."""
        return float(np.prod(self.reference))


def hypervolume(loss_values: np.ndarray, normalization: Normalization) -> float:
    """Hypervolume of the normalized points against the reference point (0 for no points)."""
    points = normalization(loss_values)
    if len(points) == 0:
        return 0.0
    inside = np.all(points < normalization.reference, axis=1)
    if not inside.any():
        return 0.0
    # moocore: exact in any dimension (WFG-style algorithms), minimization, a maintained public API
    return float(moocore.hypervolume(points[inside], ref=normalization.reference))


def hypervolume_history(batches: list[np.ndarray], normalization: Normalization) -> list[float]:
    """After each batch (in the order found): the hypervolume of the front of every point so far.

    A batch is the loss vectors one step found (a trial's feasible designs), possibly
    none, which keeps the curve flat.
    """
    history, current = [], 0.0
    front = np.empty((0, len(normalization.low)))
    for batch in batches:
        batch = np.asarray(batch, dtype=float).reshape(-1, len(normalization.low))
        if len(batch):
            front = np.vstack([front, batch])
            front = front[pareto_mask(front)]
            current = hypervolume(front, normalization)
        history.append(current)
    return history
