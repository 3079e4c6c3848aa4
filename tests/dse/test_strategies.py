"""The staged rule asks for exactly the sweeps of the paper's rule, docs/search.md (verdicts from a stub scorer, nothing trained)."""

from dse.storage.settings import StudySettings
from dse.strategies.samplers import startup_candidates
from dse.strategies.staged import StagedRule
from search_spaces import Candidate, SearchSpace
from training import TrainSpec


def run_rule(rule: StagedRule, matches) -> tuple[list[list[Candidate]], object]:
    """Play the rule to its end, one batch per call; return the batches asked and the final plan."""
    verdicts: dict[Candidate, bool] = {}
    batches = []
    while True:
        plan = rule.plan(verdicts)
        if plan.stage == 4:
            return batches, plan
        assert plan.wanted and not set(plan.wanted) & set(verdicts)
        batches.append(list(plan.wanted))
        verdicts.update({candidate: matches(candidate) for candidate in plan.wanted})


def test_the_three_sweeps_in_order():
    rule = StagedRule(SearchSpace())
    batches, plan = run_rule(rule, lambda c: c.core_bits >= 3 and c.width >= 64 and c.input_bits >= 5)
    stage1 = [Candidate(256, bits, 8, 8) for bits in range(2, 9)]
    stage2 = [Candidate(width, 3, 8, 8) for width in (128, 64, 32, 16)]  # 256 is stage 1's c3
    stage3 = [Candidate(64, 3, bits, 8) for bits in range(2, 8)]  # 8 is stage 2's w64
    assert batches == [stage1, stage2, stage3]
    assert plan.pick == Candidate(64, 3, 5, 8) and plan.notes == ()
    assert rule.stages(3, 64) == [stage1, [Candidate(256, 3, 8, 8), *stage2], [*stage3, Candidate(64, 3, 8, 8)]]


def test_smallest_matching_value_even_when_matches_are_not_monotone():
    space = SearchSpace.from_mapping({"widths": "16,32,64", "core_bits": "2..4", "input_bits": "4..6"})
    batches, plan = run_rule(StagedRule(space), lambda c: c.core_bits != 3 and c.width in (64, 16) and c.input_bits != 5)
    assert [c.core_bits for c in batches[0]] == [2, 3, 4]
    assert [c.width for c in batches[1]] == [32, 16]
    assert plan.pick == Candidate(16, 2, 4, 8)


def test_a_stage_without_a_match_keeps_the_most_precise_value():
    space = SearchSpace.from_mapping({"widths": "32,64", "core_bits": "2..3", "input_bits": "6..8"})
    batches, plan = run_rule(StagedRule(space), lambda c: False)
    assert plan.pick == Candidate(64, 3, 8, 8)
    assert len(plan.notes) == 3 and "no core bits value reached FP32 parity; kept 3" in plan.notes[0]
    assert sum(len(batch) for batch in batches) == 2 + 1 + 2


def test_grids_without_8_bits_use_the_nearest():
    space = SearchSpace.from_mapping({"input_bits": "2..6", "output_bits": "4,6"})
    rule = StagedRule(space)
    first = rule.plan({}).wanted[0]
    assert (first.input_bits, first.output_bits) == (6, 6)


def test_scanning_down_stops_each_stage_at_its_first_failure():
    space = SearchSpace.from_mapping({"widths": "16,32,64", "core_bits": "2..4", "input_bits": "4..6"})
    rule = StagedRule(space, scan="down")
    batches, plan = run_rule(rule, lambda c: c.core_bits != 3 and c.width in (64, 16) and c.input_bits != 5)
    assert batches == [[Candidate(64, 4, 6, 8)], [Candidate(64, 3, 6, 8)], [Candidate(32, 4, 6, 8)], [Candidate(64, 4, 5, 8)]]
    assert plan.pick == Candidate(64, 4, 6, 8)  # scanning anywhere picks w16-c2-i4 on the same verdicts


def test_a_stage_without_a_match_can_stop_the_rule_without_a_pick():
    space = SearchSpace.from_mapping({"widths": "32,64", "core_bits": "2..3", "input_bits": "6..8"})
    batches, plan = run_rule(StagedRule(space, no_match="stop"), lambda c: False)
    assert plan.pick is None and plan.wanted == () and batches == [[Candidate(64, 2, 8, 8), Candidate(64, 3, 8, 8)]]
    assert "no core bits value reached FP32 parity; the rule stops without a pick" in plan.notes[0]



def test_the_search_opens_with_the_rules_first_sweep_at_input_bits_the_parts_pins_carry():
    space = SearchSpace.from_mapping({"widths": "16,64", "core_bits": "2..3", "input_bits": "4..8"})

    def opening(synthesis: dict) -> list[Candidate]:
        return startup_candidates(StudySettings(env_id="InvertedPendulum-v4", strategy="search", sampler="tpe",
                                                sampler_seed=0, seeds=2, template=TrainSpec("InvertedPendulum-v4"),
                                                space=space, synthesis=synthesis))  # fmt: skip

    assert opening({}) == StagedRule(space).stages()[0] == [Candidate(64, 2, 8, 8), Candidate(64, 3, 8, 8)]
    # 4 observations x 8 bits + an 8-bit action + 6 = 46 pins of the UP5K's 39; at 6 bits, 38
    assert opening({"lattice": "ice40up5k"}) == [Candidate(64, 2, 6, 8), Candidate(64, 3, 6, 8)]
    assert opening({"lattice": "lfe5u-25f"}) == opening({})  # 197 pins
