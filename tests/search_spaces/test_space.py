import optuna
import pytest

from search_spaces import FOLDING_AXIS_GONE, PAPER_BITS, PAPER_WIDTHS, Candidate, SearchSpace, SearchSpaceError, parse_values


def test_defaults_are_the_papers_grids():
    space = SearchSpace()
    assert space.widths == (16, 32, 64, 128, 256) == PAPER_WIDTHS
    assert space.core_bits == space.input_bits == tuple(range(2, 9)) == PAPER_BITS
    assert space.output_bits == (8,)
    assert space.size == 5 * 7 * 7 * 1 == len(space.candidates()) == len(set(space.candidates()))


@pytest.mark.parametrize(
    ("axis", "text", "expected"),
    [
        ("core_bits", "2..4", (2, 3, 4)),
        ("widths", "64, 16,32", (64, 16, 32)),
        ("widths", [16, 32], (16, 32)),
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
        ({"foldings": "fit,1e5"}, "foldings is no longer a search axis"),
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
    space = SearchSpace.from_mapping({"widths": "16,64", "core_bits": "2..4"})
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=optuna.samplers.RandomSampler(seed=1))
    seen = set()
    for _ in range(40):
        trial = study.ask()
        candidate = space.suggest(trial)
        assert space.contains(candidate)
        seen.add(candidate)
        study.tell(trial, [0.0, 0.0])
    distributions = study.trials[0].distributions
    assert isinstance(distributions["core_bits"], optuna.distributions.IntDistribution)
    assert isinstance(distributions["width"], optuna.distributions.CategoricalDistribution)
    assert len(seen) > 4


def test_an_enqueued_candidate_comes_back_unchanged():
    space = SearchSpace()
    wanted = Candidate(128, 3, 5, 8)
    study = optuna.create_study(directions=["maximize"])
    study.enqueue_trial(wanted.params())
    assert space.suggest(study.ask()) == wanted
    assert wanted.label == "w128-c3-i5-o8"


@pytest.mark.parametrize("axes", [{}, {"widths": "16,32,64", "core_bits": "2..4", "input_bits": "4..8"}, {"widths": "64"}])
def test_the_space_filling_start_covers_every_value_of_every_axis(axes):
    space = SearchSpace.from_mapping(axes)
    longest = max(len(getattr(space, axis)) for axis in ("widths", "core_bits", "input_bits", "output_bits"))
    for seed in range(5):
        start = space.space_filling(seed)
        assert len(start) == longest == len(set(start)) and all(space.contains(candidate) for candidate in start)
        for axis, name in (("widths", "width"), ("core_bits", "core_bits"), ("input_bits", "input_bits")):
            assert {getattr(candidate, name) for candidate in start} == set(getattr(space, axis))
        assert start == space.space_filling(seed)  # a resumed study repeats it
    assert space.space_filling(0) != space.space_filling(1) or longest == 1


def test_a_space_file_naming_foldings_gets_one_line_saying_why():
    with pytest.raises(SearchSpaceError) as error:
        SearchSpace.from_mapping({"widths": "16", "foldings": ["fit"]})
    assert str(error.value) == FOLDING_AXIS_GONE and "\n" not in str(error.value)
