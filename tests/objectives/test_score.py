import numpy as np
import pytest

from objectives import DIRECTIONS, OBJECTIVES, Fp32Band, objectives_for, score
from objectives.pareto import Normalization, dominated_by_front, hypervolume, hypervolume_history, losses, pareto_mask

BAND = Fp32Band(mean=100.0, std=10.0, seeds=3)


@pytest.mark.parametrize(
    ("returns", "fits", "feasible", "parity_constraint"),
    [([95.0, 85.0], True, True, 0.0), ([80.0, 90.0], True, False, 5.0), ([120.0], False, False, -30.0)],
)
def test_score_constraints(returns, fits, feasible, parity_constraint):
    result = score(returns, BAND, luts=1000, latency_s=2e-6, energy_j=5e-8, fits=fits)
    assert result.values == (float(np.mean(returns)), 1000.0, 2e-6, 5e-8)
    assert result.feasible is feasible
    assert result.constraints() == {
        "parity": pytest.approx(parity_constraint),
        "fits": 0.0 if fits else 1.0,
        "trained": 0.0,
    }
    assert DIRECTIONS == ("maximize", "minimize", "minimize", "minimize")


def test_a_candidate_stopped_early_is_infeasible_even_at_parity():
    result = score([120.0], BAND, luts=1000, latency_s=2e-6, energy_j=5e-8, fits=True, stopped_early=True)
    assert result.parity.feasible and not result.feasible
    assert result.constraints()["trained"] == 1.0


def test_where_energy_is_not_estimated_a_score_has_the_first_three_objectives_and_their_losses():
    result = score([95.0, 85.0], BAND, luts=1000, latency_s=2e-6, energy_j=None, fits=True)
    assert result.values == (90.0, 1000.0, 2e-6) and result.feasible
    assert objectives_for(energy=False) == OBJECTIVES[:3] and objectives_for(energy=True) == OBJECTIVES
    assert losses([result.values, (80.0, 500.0, 3e-6)]).tolist() == [[-90.0, 1000.0, 2e-6], [-80.0, 500.0, 3e-6]]
    assert losses(np.empty((0, 3))).shape == (0, 3) and losses([]).shape == (0, 4)


def test_pareto_mask_matches_brute_force():
    rng = np.random.default_rng(3)
    values = rng.integers(0, 6, size=(60, 4)).astype(float)
    mask = pareto_mask(losses(values))
    for i, point in enumerate(losses(values)):
        dominated = any(np.all(o <= point) and np.any(o < point) for o in losses(values))
        assert mask[i] == (not dominated)
    front = losses(values)[mask]
    assert not any(dominated_by_front(point, front) for point in front)


def test_hypervolume_of_known_boxes():
    normalization = Normalization(low=np.zeros(2), span=np.ones(2))
    assert hypervolume(np.array([[0.5, 0.5]]), normalization) == pytest.approx(0.6 * 0.6)
    two = np.array([[0.0, 1.0], [1.0, 0.0]])
    assert hypervolume(two, normalization) == pytest.approx(1.1 * 0.1 * 2 - 0.1 * 0.1)
    assert hypervolume(np.array([[2.0, 0.0]]), normalization) == 0.0


def test_history_grows_with_each_batch_of_points_and_stays_flat_on_an_empty_one():
    points = np.array([[0.5, 0.5], [0.0, 0.0], [0.6, 0.6], [0.2, 0.1]])
    normalization = Normalization(low=np.zeros(2), span=np.ones(2))
    history = hypervolume_history([points[:1], points[:0], points[2:3], points[3:]], normalization)
    assert history[0] == history[1] == history[2] == pytest.approx(0.36)
    assert history[3] == pytest.approx(0.9 * 1.0)
    # a batch of several designs counts them all at once: the same as adding them one by one
    assert hypervolume_history([points[[0, 2, 3]]], normalization) == [history[3]]
    assert Normalization.fit(points).reference.tolist() == [1.1, 1.1]
