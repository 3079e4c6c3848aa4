"""The early-stop rules on learning curves."""

import pytest

from objectives import ObjectivesInputError
from objectives.early_stop import RULES, EarlyStopper, EarlyStopRule, Fp32Curve, early_stop_rule

STEPS = (1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10000)
# FP32 learns from -1000 to 0: a progress of 1000.
FP32 = Fp32Curve(STEPS, (-1000.0, -900.0, -700.0, -500.0, -300.0, -200.0, -100.0, -50.0, -20.0, 0.0))
ONE_CHECKPOINT = EarlyStopRule("one", behind=0.25, after=0.2, checkpoints=1)
TWO_CHECKPOINTS = EarlyStopRule("two", behind=0.5, after=0.3, checkpoints=2)


def first_stop(rule: EarlyStopRule, candidate: list[float], reference: Fp32Curve = FP32) -> int | None:
    stopper = EarlyStopper(rule, reference, total_steps=10000)
    for step, value in zip(reference.steps, candidate):
        if stopper.check(step, value) is not None:
            return step
    return None


@pytest.mark.parametrize("rule", [ONE_CHECKPOINT, TWO_CHECKPOINTS, *RULES.values()], ids=lambda rule: rule.name)
def test_a_candidate_on_the_fp32_curve_is_never_stopped(rule):
    assert first_stop(rule, list(FP32.means)) is None


def test_a_flat_candidate_is_stopped_once_far_enough_behind_for_long_enough():
    flat = [-1000.0] * len(STEPS)
    # behind by 0.1, 0.3, 0.5, 0.7 of the progress at steps 2000, 3000, 4000, 5000
    assert first_stop(ONE_CHECKPOINT, flat) == 3000, "over 25% behind, from 20% of the training, at one checkpoint"
    assert first_stop(TWO_CHECKPOINTS, flat) == 6000, "over 50% behind at two checkpoints in a row, from 30%"


def test_nothing_is_stopped_before_the_rule_allows():
    hopeless = [-5000.0] * len(STEPS)
    assert first_stop(ONE_CHECKPOINT, hopeless) == 2000
    assert first_stop(TWO_CHECKPOINTS, hopeless) == 3000


def test_a_candidate_is_judged_by_its_best_so_far_so_a_dip_stops_nothing():
    dip = list(FP32.means)
    dip[4] = -1000.0  # a bad checkpoint at step 5000 after being on the FP32 curve
    assert first_stop(ONE_CHECKPOINT, dip) is None
    assert first_stop(TWO_CHECKPOINTS, dip) is None


def test_fp32_is_judged_by_its_best_so_far_too():
    dipping = Fp32Curve(STEPS, (-1000.0, -100.0, -900.0, -900.0, -900.0, -900.0, -900.0, -900.0, -900.0, -900.0))
    # FP32's best by step 3000 is -100 (progress 900): a candidate stuck at -900 is 89% behind it.
    assert first_stop(ONE_CHECKPOINT, [-900.0] * len(STEPS), dipping) == 2000


def test_a_candidate_whose_best_reaches_the_parity_edge_is_never_stopped_by_a_higher_curve():
    # a baseline seed that reached 0 by step 3000 and lost it again: the band of the final returns sits far lower
    collapsed = Fp32Curve(STEPS, (-1000.0, -500.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0), parity_lower=-600.0)
    assert first_stop(ONE_CHECKPOINT, [-1000.0, -600.0, *[-600.0] * 8], collapsed) is None, "at parity's bar from step 2000"
    assert first_stop(ONE_CHECKPOINT, [-1000.0] * len(STEPS), collapsed) == 2000, "below the bar it is still judged"
    uncapped = Fp32Curve(collapsed.steps, collapsed.means)
    assert first_stop(ONE_CHECKPOINT, [-1000.0, -600.0, *[-600.0] * 8], uncapped) == 3000, "the curve alone would stop it"
    assert Fp32Curve.from_dict(collapsed.to_dict()) == collapsed
    written_before = {key: value for key, value in collapsed.to_dict().items() if key != "parity_lower"}
    assert Fp32Curve.from_dict(written_before) == uncapped, "a curve recorded before the cap reads back uncapped"


def test_nothing_is_stopped_when_fp32_learned_nothing():
    unlearned = Fp32Curve(STEPS, tuple([-500.0] * len(STEPS)))
    assert first_stop(ONE_CHECKPOINT, [-5000.0] * len(STEPS), unlearned) is None


def test_aggressive_stops_no_later_than_conservative():
    for level in (-1000.0, -800.0, -600.0, -400.0):
        flat = [level] * len(STEPS)
        aggressive, conservative = first_stop(RULES["aggressive"], flat), first_stop(RULES["conservative"], flat)
        assert conservative is None or (aggressive is not None and aggressive <= conservative), level


def test_the_reason_names_the_rule_step_and_distance():
    stopper = EarlyStopper(ONE_CHECKPOINT, FP32, total_steps=10000)
    assert stopper.check(2000, -1000.0) is None, "10% behind is within the limit"
    reason = stopper.check(3000, -1000.0)
    assert reason.startswith(
        "one rule: best return -1000.0 by step 3000 is 30% of FP32's learning progress (1000.0) behind the best"
        " lower edge of FP32's curve, -700.0 (limit 25%)"
    )


def test_fp32_curve_is_the_mean_over_seeds_at_shared_checkpoints(tmp_path):
    for seed, rows in enumerate([[(500, -10.0), (1000, 20.0)], [(500, -30.0), (1000, 40.0), (1500, 50.0)]]):
        run = tmp_path / f"s{seed}"
        run.mkdir()
        lines = ["env_step,return_mean,return_std,wall_seconds", *(f"{step},{value},0,0" for step, value in rows)]
        (run / "curve.csv").write_text("\n".join(lines) + "\n")
    curve = Fp32Curve.from_run_dirs([tmp_path / "s0", tmp_path / "s1"])
    assert curve.steps == (500, 1000) and curve.means == (-20.0, 30.0)
    assert curve.stds == pytest.approx((20 / 2**0.5, 20 / 2**0.5)), "the same spread as the FP32 band: ddof 1"
    assert curve.progress == 50.0
    assert Fp32Curve.from_dict(curve.to_dict()) == curve


def test_an_unknown_mode_is_one_clear_error():
    with pytest.raises(ObjectivesInputError, match="early-stop mode 'eager' is unknown: choose one of off, conservative, aggressive"):
        early_stop_rule("eager")
    assert early_stop_rule("off") is None
