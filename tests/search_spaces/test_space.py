import optuna
import pytest

from search_spaces import FIT, PAPER_BITS, PAPER_FOLDINGS, PAPER_WIDTHS, Candidate, SearchSpace, SearchSpaceError, parse_values


def test_defaults_are_the_papers_grids():
    space = SearchSpace()
    assert space.widths == (16, 32, 64, 128, 256) == PAPER_WIDTHS
    assert space.core_bits == space.input_bits == tuple(range(2, 9)) == PAPER_BITS
    assert space.output_bits == (8,)
    assert space.foldings == PAPER_FOLDINGS and FIT in space.foldings
    assert space.size == 5 * 7 * 7 * 1 * 9


@pytest.mark.parametrize(
    ("axis", "text", "expected"),
    [
        ("core_bits", "2..4", (2, 3, 4)),
        ("widths", "64, 16,32", (64, 16, 32)),
        ("widths", [16, 32], (16, 32)),
        ("foldings", "fit,1e4,100000,1e+06", ("fit", "1e4", "1e5", "1e6")),
        ("input_bits", 5, (5,)),
    ],
)
def test_parse_values(axis, text, expected):
    assert parse_values(axis, text) == expected


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"widths": ""}, "widths is empty"),
        ({"core_bits": "8..2"}, "range '8..2' is empty"),
        ({"core_bits": "1..3"}, "core-bits 1 is outside the allowed 2..8"),
        ({"input_bits": "4,4"}, "repeats a value"),
        ({"widths": "16,wide"}, "widths value 'wide' is not an integer"),
        ({"widths": "0"}, "width 0 is invalid"),
        ({"foldings": "1e10"}, "folding '1e10' is unknown"),
        ({"depth": 2}, "axis depth is unknown"),
        (["widths"], "must be a mapping"),
    ],
)
def test_bad_spaces_name_the_value(data, message):
    with pytest.raises(SearchSpaceError, match=message):
        SearchSpace.from_mapping(data)


def test_mapping_overrides_only_the_axes_it_names():
    base = SearchSpace.from_mapping({"widths": "16,32", "core_bits": "2..3"})
    space = SearchSpace.from_mapping({"core_bits": "4"}, base=base)
    assert space.widths == (16, 32) and space.core_bits == (4,) and space.input_bits == PAPER_BITS


def test_suggest_draws_inside_the_space_with_ordered_integer_ranges():
    space = SearchSpace.from_mapping({"widths": "16,64", "core_bits": "2..4", "foldings": "fit,1e5"})
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=optuna.samplers.RandomSampler(seed=1))
    seen = set()
    for _ in range(40):
        trial = study.ask()
        candidate = space.suggest(trial)
        assert space.contains(candidate)
        seen.add(candidate.shape)
        study.tell(trial, [0.0, 0.0])
    distributions = study.trials[0].distributions
    assert isinstance(distributions["core_bits"], optuna.distributions.IntDistribution)
    assert isinstance(distributions["width"], optuna.distributions.CategoricalDistribution)
    assert len(seen) > 4


def test_an_enqueued_candidate_comes_back_unchanged():
    space = SearchSpace()
    wanted = Candidate(128, 3, 5, 8, "1e6")
    study = optuna.create_study(directions=["maximize"])
    study.enqueue_trial(wanted.params())
    assert space.suggest(study.ask()) == wanted
    assert wanted.target_fps == 1e6 and Candidate(16, 2, 2, 8).target_fps is None
    assert wanted.label == "w128-c3-i5-o8-1e6"
