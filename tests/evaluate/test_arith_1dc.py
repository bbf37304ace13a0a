import pytest

from fastprune.evaluate import EvaluateOptions
from fastprune.evaluate.arith_1dc import SHOTS, Arith1dcTask, build_prompt, first_digit, make_problems


def _value(question: str) -> int:
    return eval(question.removeprefix("What is ").removesuffix("?"))  # Python's arithmetic checks ours


def test_problems_are_seeded_distinct_single_digit_and_not_shots():
    a = make_problems(200, seed=0)
    assert a == make_problems(200, seed=0) and a != make_problems(200, seed=1)
    assert len(set(a)) == 200 and not set(a) & set(SHOTS)
    for p in a:
        assert all(0 <= x <= 9 for x in (p.a, p.b, p.c)) and {p.op1, p.op2} <= set("+-*")
        assert _value(p.question) == p.answer
    assert {p.answer < 0 for p in a} == {True, False}
    with pytest.raises(ValueError, match="distinct problems"):
        make_problems(9000, seed=0)


def test_prompt_is_the_papers_three_shot_format():
    shots = build_prompt(SHOTS[0]).split("\n")[:3]
    assert shots[0] == "Question: What is (4 * 4) * 1? Answer: 16"
    assert len(shots) == 3 and all(s.startswith("Question: What is (") for s in shots)
    pos = next(p for p in make_problems(50, 0) if p.answer >= 0)
    neg = next(p for p in make_problems(50, 0) if p.answer < 0)
    assert build_prompt(pos).endswith(f"Question: {pos.question} Answer: ")
    assert build_prompt(neg).endswith(f"Question: {neg.question} Answer: -")
    assert build_prompt(pos).count("\n") == 3
    assert first_digit(-42) == "4" and first_digit(0) == "0" and first_digit(81) == "8"


class DigitLM:
    """Knows the answer only when the second operation is '+'; otherwise always says 7."""

    def __init__(self):
        self.texts = []

    def prompt_ids(self, text):
        self.texts.append(text)
        return [len(self.texts) - 1]

    def encode(self, text):
        return [ord(c) for c in text]

    def next_token_logprobs(self, prompts):
        import torch

        out = torch.full((len(prompts), 128), -10.0)
        for row, p in enumerate(prompts):
            question = self.texts[p[0]].rsplit("Question: ", 1)[1].split("? Answer:")[0] + "?"
            digit = first_digit(_value(question)) if ") + " in question else "7"
            out[row, ord(digit)] = 0.0
        return out


def test_scored_by_argmax_over_the_ten_digits():
    result = Arith1dcTask(EvaluateOptions()).run(DigitLM(), limit=120, seed=0)
    assert result.n == 120 and result.primary == "first_digit_acc"
    expected = sum(") + " in s["question"] or s["first_digit_target"] == "7" for s in result.samples) / 120
    assert result.metrics["first_digit_acc"] == pytest.approx(expected)
    assert result.chance["first_digit_acc"] == pytest.approx(0.1)
    assert set(result.item_metrics) == {"first_digit_acc", "first_digit_acc/positive", "first_digit_acc/negative"}
    assert len({s["id"] for s in result.samples}) == 120
    assert Arith1dcTask(EvaluateOptions()).run(DigitLM(), limit=None, seed=0).n == 200


def test_on_tiny_model(tiny_lm):
    result = Arith1dcTask(EvaluateOptions()).run(tiny_lm, limit=5, seed=0)
    assert result.n == 5 and all(s["first_digit_pred"] in "0123456789" for s in result.samples)


@pytest.mark.embedded
def test_embedded_model_is_above_chance(embedded_lm):
    from fastprune.evaluate.stats import wilson_interval

    result = Arith1dcTask(EvaluateOptions()).run(embedded_lm, limit=100, seed=0)
    hits = sum(s["correct"] for s in result.samples)
    assert wilson_interval(hits, 100)[0] > 0.1, f"{hits}/100 is not above the 10% chance level"
