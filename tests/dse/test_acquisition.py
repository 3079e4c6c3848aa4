"""The hardware-aware search's choice, on a small space with hardware and returns given."""

import numpy as np

from dse.strategies.hypervolume import HypervolumeSearch, Observed, predict_returns
from objectives import Fp32Band
from objectives.pareto import losses
from search_spaces import Candidate, SearchSpace

SPACE = SearchSpace.from_mapping({"widths": "16,64", "core_bits": "2..3", "input_bits": "8"})
BAND = Fp32Band(100.0, 10.0, 2)  # parity from 90


def hardware(candidate: Candidate) -> np.ndarray:
    """One design: LUTs grow with width and bits, latency with width."""
    return np.array([[candidate.width * candidate.core_bits * 10.0, candidate.width * 1e-7, candidate.width * 1e-9]])


def observed(candidate: Candidate, mean_return: float) -> Observed:
    design = hardware(candidate)[0]
    feasible = losses([[mean_return, *design]]) if mean_return >= BAND.lower else np.empty((0, 4))
    return Observed(mean_return, feasible)


def test_with_the_widest_candidates_at_parity_it_tries_the_cheap_ones_next():
    search = HypervolumeSearch(SPACE, BAND, {candidate: hardware(candidate) for candidate in SPACE.candidates()})
    seen = {Candidate(64, 2, 8, 8): observed(Candidate(64, 2, 8, 8), 110.0),
            Candidate(64, 3, 8, 8): observed(Candidate(64, 3, 8, 8), 120.0)}
    chosen = search.choose(seen, [], set(seen))
    assert chosen.width == 16, "a cheaper design at parity would add the most to the front"
    # the other cheap one next, while the first is training (counted at its predicted return)
    second = search.choose(seen, [chosen], set(seen) | {chosen})
    assert second.width == 16 and second != chosen
    assert search.choose(seen, [], set(SPACE.candidates())) is None, "nothing left to ask"


def test_where_energy_is_not_estimated_it_chooses_on_return_luts_and_latency():
    predicted = {candidate: hardware(candidate)[:, :2] for candidate in SPACE.candidates()}
    search = HypervolumeSearch(SPACE, BAND, predicted)
    seen = {candidate: Observed(value, losses([[value, *predicted[candidate][0]]]))
            for candidate, value in ((Candidate(64, 2, 8, 8), 110.0), (Candidate(64, 3, 8, 8), 120.0))}  # fmt: skip
    assert search.objective_count == 3 and search.choose(seen, [], set(seen)).width == 16


def test_a_candidate_that_fits_nowhere_adds_nothing_and_waits_for_the_rest():
    predicted = {candidate: hardware(candidate) for candidate in SPACE.candidates()}
    predicted[Candidate(16, 2, 8, 8)] = np.empty((0, 3))
    search = HypervolumeSearch(SPACE, BAND, predicted)
    seen = {Candidate(64, 3, 8, 8): observed(Candidate(64, 3, 8, 8), 120.0)}
    first = search.choose(seen, [], set(seen))
    assert first == Candidate(16, 3, 8, 8)


def test_the_return_model_follows_the_trainings_and_keeps_its_uncertainty_away_from_them():
    seen = {Candidate(64, 2, 8, 8): observed(Candidate(64, 2, 8, 8), 60.0),
            Candidate(64, 3, 8, 8): observed(Candidate(64, 3, 8, 8), 120.0),
            Candidate(16, 3, 8, 8): observed(Candidate(16, 3, 8, 8), 118.0)}
    mean, std = predict_returns(SPACE, seen, [Candidate(64, 3, 8, 8), Candidate(64, 2, 8, 8), Candidate(16, 2, 8, 8)], BAND)
    assert mean[0] > mean[1], "the better training predicts the higher return"
    assert std[0] < std[2] and std[1] < std[2], "a candidate never trained is the least certain"
    # with fewer than two trainings the FP32 band stands for every candidate, with a wide spread
    mean, std = predict_returns(SPACE, {}, [Candidate(16, 2, 8, 8)], BAND)
    assert mean[0] == BAND.mean and std[0] == 3 * BAND.std


def test_it_steps_one_value_of_one_axis_away_from_a_candidate_at_parity():
    space = SearchSpace.from_mapping({"widths": "16,32,64", "core_bits": "2..3", "input_bits": "8"})
    search = HypervolumeSearch(space, BAND, {candidate: hardware(candidate) for candidate in space.candidates()})
    seen = {Candidate(64, 2, 8, 8): observed(Candidate(64, 2, 8, 8), 110.0),
            Candidate(64, 3, 8, 8): observed(Candidate(64, 3, 8, 8), 120.0)}
    assert search.choose(seen, [], set(seen)).width == 32, "the next width down, though 16 would be cheaper"
    seen[Candidate(32, 2, 8, 8)] = observed(Candidate(32, 2, 8, 8), 50.0)
    chosen = search.choose(seen, [], set(seen))
    assert chosen == Candidate(32, 3, 8, 8), "a step from a candidate below parity is no step: w16-c2 waits"
    seen[chosen] = observed(chosen, 50.0)
    last = search.choose(seen, [], set(seen))
    assert last is not None and last.width == 16, "no step left: the rest of the space is open again"
