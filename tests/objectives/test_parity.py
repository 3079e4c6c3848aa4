import pytest

from objectives import Fp32Band, ObjectivesInputError, parity
from objectives.parity import seed_std


def test_band_is_mean_and_sample_std_over_seed_means():
    band = Fp32Band.from_seed_returns([100.0, 200.0, 300.0])
    assert band.mean == pytest.approx(200.0)
    assert band.std == pytest.approx(100.0), "sample std (ddof 1): sqrt(20000 / 2)"
    assert band.seeds == 3
    assert Fp32Band.from_seed_returns([7.0]).std == 0.0, "one seed has no spread"
    assert seed_std([1.0, 3.0]) == pytest.approx(2**0.5)


def test_parity_holds_inside_or_above_the_band_only():
    band = Fp32Band(mean=1000.0, std=100.0, seeds=10)
    assert parity([900.0, 910.0], band).feasible
    assert parity([5000.0], band).feasible
    verdict = parity([850.0, 890.0], band)
    assert not verdict.feasible and verdict.margin == pytest.approx(-30.0)


def test_empty_inputs_are_refused():
    with pytest.raises(ObjectivesInputError):
        Fp32Band.from_seed_returns([])
    with pytest.raises(ObjectivesInputError):
        parity([], Fp32Band(0.0, 1.0, 1))
