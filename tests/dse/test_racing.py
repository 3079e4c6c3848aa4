"""Seed racing's verdict after a candidate's first seeds: out below parity, out when the front covers it, else on."""

import optuna
import pytest

from dse.cli import main
from dse.storage.settings import StudySettings
from dse.study.pool import ActiveTrial
from dse.study.pricing import HardwarePricer
from dse.study.racing import SeedRace
from dse.study.tasks import TrainingOutcome
from objectives import Fp32Band
from objectives.pareto import RunningFront
from search_spaces import Candidate, SearchSpace
from synthesis.estimate import SynthesisSettings
from tests.dse.tiny import TINY_STUDY
from training import TrainSpec

CANDIDATE = Candidate(16, 2, 6, 8)


def _race(tmp_path, front_points=(), baseline_returns=(90.0, 100.0, 110.0), designs=None,
          synthesis=SynthesisSettings()) -> tuple[SeedRace, RunningFront]:
    settings = StudySettings(env_id="Pendulum-v1", strategy="search", sampler="tpe", sampler_seed=0, seeds=3,
                             template=TrainSpec("Pendulum-v1"), space=SearchSpace(), synthesis={}, seed_racing=1)
    study = optuna.create_study(directions=["maximize", "minimize", "minimize", "minimize"])
    pricer = HardwarePricer("Pendulum-v1", synthesis, tmp_path / "synth")
    front = RunningFront()
    for point in front_points:
        front.add(point)
    band = Fp32Band.from_seed_returns(list(baseline_returns))
    return SeedRace(settings, study, band, baseline_returns, pricer, designs), front


def _after_first_seed(mean_return: float) -> ActiveTrial:
    specs = [TrainSpec("Pendulum-v1", seed=seed) for seed in range(3)]
    active = ActiveTrial(None, CANDIDATE, specs, seeds_now=1)
    active.outcomes[0] = TrainingOutcome("k", "run", (mean_return,), 1.0, 100, True)
    return active


def test_a_candidate_that_cannot_reach_parity_is_raced_out(tmp_path):
    race, front = _race(tmp_path)
    active = _after_first_seed(20.0)  # bound 20 + 1.645 x 10 x sqrt(2 / 3) = 33.4, below the band's lower edge 90
    reason = race.verdict(active, front)
    assert reason is not None and "below the FP32 band's lower edge 90.0" in reason and active.seeds_now == 1


def test_an_uncertain_candidate_trains_every_seed(tmp_path):
    race, front = _race(tmp_path)
    active = _after_first_seed(85.0)  # bound 98.4: parity is possible (110, the best seed, is no ceiling: one seed)
    assert race.verdict(active, front) is None and active.seeds_now is None and active.wanted == 3


def test_a_candidate_the_front_covers_at_its_bound_is_raced_out(tmp_path):
    race, front = _race(tmp_path, front_points=[(500.0, 1.0, 1e-9, 1e-12)])
    active = _after_first_seed(95.0)  # at parity maybe, but a found design is better on every objective
    reason = race.verdict(active, front)
    assert reason is not None and "no design of it would join the front" in reason


def test_at_a_ceiling_the_bound_races_out_what_the_spread_cannot(tmp_path):
    # returns that pile up at an env's most (1,000) with a rare failed seed: the spread (346) puts the statistical
    # bound at 1,465, above anything a seed can return; three seeds at exactly 1,000 show the ceiling, so its other
    # two seeds cannot raise its mean above 1,000, where a cheaper found design already is. Its first seed reached the
    # ceiling, so that seed is the one it deploys, and its designs are that trained policy's
    looked_up = []

    def trained_designs(policy_dir, settings, cache_dir):
        looked_up.append(policy_dir.name)
        return race.pricer.designs(CANDIDATE), None

    race, front = _race(tmp_path, front_points=[(1000.0, 1.0, 1e-9, 1e-12)], baseline_returns=(1000.0, 1000.0, 400.0),
                        designs=trained_designs)  # fmt: skip
    reason = race.verdict(_after_first_seed(1000.0), front)
    assert reason is not None and "bound on its return, 1000.0, no design of it would join the front" in reason
    assert looked_up == ["run"]


def test_without_a_ceiling_the_best_seed_seen_bounds_nothing(tmp_path):
    # two seeds at the best return seen are no ceiling (continuous returns do not tie), and another seed could beat it
    race, front = _race(tmp_path, front_points=[(1000.0, 1.0, 1e-9, 1e-12)], baseline_returns=(1000.0, 999.0, 400.0))
    active = _after_first_seed(1000.0)
    assert race.verdict(active, front) is None and active.seeds_now is None


def test_the_front_test_allows_for_trained_designs_coming_out_cheaper_than_priced(tmp_path):
    race, _ = _race(tmp_path)
    priced = race.pricer.fitting(CANDIDATE)
    # a found design a little cheaper than every priced design of the candidate, at a return it cannot beat
    front = RunningFront()
    front.add((1000.0, priced[:, 0].min() * 0.9, priced[:, 1].min(), priced[:, 2].min() * 0.9))
    assert race.verdict(_after_first_seed(100.0), front) is not None  # nothing scored yet: designs as priced
    # a scored candidate whose trained designs came out at half the priced LUTs and energy
    designs = race.pricer.designs(CANDIDATE)
    records = [{"folding": [[layer.pe, layer.simd] for layer in design.layers if layer.pe is not None],
                "luts": design.luts / 2, "energy_j": design.energy_per_action_j / 2} for design in designs]
    race.study.add_trial(optuna.trial.create_trial(
        params={"width": 16, "core_bits": 2, "input_bits": 6, "output_bits": 8},
        distributions={name: optuna.distributions.CategoricalDistribution([value]) for name, value
                       in {"width": 16, "core_bits": 2, "input_bits": 6, "output_bits": 8}.items()},
        values=[100.0, 1.0, 1.0, 1.0], user_attrs={"designs": records, "seed_returns": [100.0]}))  # fmt: skip
    active = _after_first_seed(100.0)
    assert race.verdict(active, front) is None and active.seeds_now is None


@pytest.mark.parametrize("options, message", [
    (["--seeds", "1", "--seed-racing", "1"], "needs 1 <= K < --seeds"),
    (["--seed-racing", "1", "--early-stop", "conservative"], "cannot be combined with seed-racing 1"),
    (["--seed-racing", "1", "--fidelity-rungs", "2"], "cannot be combined with fidelity-rungs 2"),
    (["--seed-racing", "1", "--strategy", "staged"], "--seed-racing 1 cannot be combined with --strategy staged"),
])
def test_racing_that_cannot_work_is_refused_in_one_line(options, message, tmp_path, capsys):
    assert main(["run", *TINY_STUDY, "--steps", "900", *options, "--out", str(tmp_path / "x"), "--dry-run"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]


def test_racing_turns_early_stopping_off_by_default(tmp_path, capsys):
    assert main(["run", *TINY_STUDY, "--seed-racing", "1", "--out", str(tmp_path / "x"), "--dry-run"]) == 0


def test_on_a_part_whose_energy_is_not_estimated_the_race_weighs_luts_and_latency(tmp_path):
    race, _ = _race(tmp_path, synthesis=SynthesisSettings(lattice="ice40up5k", clock_mhz=None))
    priced = race.pricer.fitting(CANDIDATE)
    assert priced.shape[1] == 2 and len(priced) > 0
    assert race.verdict(_after_first_seed(100.0), RunningFront()) is None  # an empty front: it may join it
    front = RunningFront()
    front.add((1000.0, priced[:, 0].min() / 2, priced[:, 1].min() / 2))
    assert "no design of it would join the front" in race.verdict(_after_first_seed(100.0), front)
