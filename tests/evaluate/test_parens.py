import random

import pytest

from fastprune.evaluate import EvaluateOptions
from fastprune.evaluate.parens import (
    PAIRS,
    ParensOptions,
    ParensTask,
    build_prompt,
    closing_sequence,
    make_problem,
    make_problems,
    parse_closing,
)


def _balanced(seq: str) -> bool:
    try:
        return closing_sequence(seq) == ""
    except ValueError:
        return False


@pytest.mark.parametrize("depth", [1, 2, 3, 5, 8, 12])
def test_problem_leaves_exactly_depth_open_and_answer_closes_it(depth):
    rng = random.Random(depth)
    for _ in range(40):
        p = make_problem(depth, rng)
        assert len(p.answer.split()) == depth
        assert _balanced(p.prefix + " " + p.answer)
        assert all(c in PAIRS.values() for c in p.answer.split())
        assert len(p.prefix.split()) > depth  # some closed pairs before the open ones


def test_problems_seeded_and_cycle_depths():
    a = make_problems(3, (2, 4), seed=0)
    assert a == make_problems(3, (2, 4), seed=0) and a != make_problems(3, (2, 4), seed=1)
    assert [p.depth for p in a] == [2, 4, 2, 4, 2, 4]


def test_closing_sequence_rejects_bad_prefix():
    assert closing_sequence("( [ { } ]") == ")"
    with pytest.raises(ValueError):
        closing_sequence("( ]")
    with pytest.raises(ValueError):
        closing_sequence("( x")
    with pytest.raises(ValueError):
        make_problem(0, random.Random(0))


@pytest.mark.parametrize(
    ("gen", "want"),
    [(" ] } )", "] } )"), ("])}\nInput: (", "] ) }"), ("  ) ) and more", ") )"), ("", ""), ("\n)", ")")],
)
def test_parse_closing(gen, want):
    assert parse_closing(gen) == want


def test_prompt_has_shots_and_open_output():
    rng = random.Random(0)
    p = make_problem(3, rng)
    text = build_prompt(p, [make_problem(1, rng)])
    assert text.startswith("Complete the sequence") and text.endswith(f"Input: {p.prefix}\nOutput:")
    assert text.count("Input:") == 2


class EchoLM:
    """Closes brackets correctly only for depth <= 4 prompts: checks per-depth scoring."""

    def __init__(self):
        self.texts = []

    def prompt_ids(self, text):
        self.texts.append(text)
        return [len(self.texts) - 1]

    def generate(self, prompts, max_new_tokens, seed=0, stop_strings=()):
        from fastprune.evaluate.lm import Generation

        out = []
        for (i,) in prompts:
            prefix = self.texts[i].rsplit("Input: ", 1)[1].removesuffix("\nOutput:")
            answer = closing_sequence(prefix)
            text = " " + answer if len(answer.split()) <= 4 else " )"
            out.append(Generation(text, [0], "stop_string", len(text.split())))
        return out


def test_task_reports_per_depth():
    result = ParensTask(EvaluateOptions(parens=ParensOptions(depths=(2, 4, 6, 8)))).run(EchoLM(), limit=10, seed=0)
    m = result.metrics
    assert result.n == 10
    assert m["exact_match/2"] == m["exact_match/4"] == 1.0
    assert m["exact_match/6"] == m["exact_match/8"] == 0.0
    assert m["exact_match"] == pytest.approx(sum(s["depth"] <= 4 for s in result.samples) / 10)
    # chance: the right number of closers with random types
    assert result.chance["exact_match/2"] == pytest.approx(1 / 9)
    assert result.chance["exact_match"] == pytest.approx(sum(3.0 ** -s["depth"] for s in result.samples) / 10)
    assert set(result.item_metrics) == {"exact_match", "exact_match/2", "exact_match/4", "exact_match/6",
                                        "exact_match/8"}


def test_task_on_tiny_model(tiny_lm):
    result = ParensTask(EvaluateOptions(parens=ParensOptions(depths=(1, 3)))).run(tiny_lm, limit=4, seed=0)
    assert result.n == 4 and {"exact_match/1", "exact_match/3"} <= set(result.metrics)
    assert all(s["num_tokens"] <= 3 * 3 + 4 for s in result.samples)
