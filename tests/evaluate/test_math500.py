from pathlib import Path

import pytest

from fastprune.errors import FastpruneError
from fastprune.evaluate import EvaluateOptions
from fastprune.evaluate.lm import Generation
from fastprune.evaluate.math500 import Math500Options, Math500Task, answers_equivalent, normalize_answer

FIXTURE = Path(__file__).parent / "fixtures" / "math500.jsonl"


@pytest.mark.parametrize(
    ("prediction", "reference"),
    [
        ("\\dfrac{3}{4}", "\\frac{3}{4}"), ("\\frac34", "\\frac{3}{4}"), ("3/4", "\\frac{3}{4}"),
        ("0.75", "3/4"),
        ("(3,\\frac{\\pi}{2})", "\\left( 3, \\frac{\\pi}{2} \\right)"), ("x = 4", "4"), ("4.0", "4"),
        ("90^\\circ", "90"), ("\\$5", "5"), ("10\\text{ cm}", "10"), ("\\text{(C)}", "(C)"), ("50\\%", "50"),
    ],
)
def test_equivalent(prediction, reference):
    assert answers_equivalent(prediction, reference)


@pytest.mark.parametrize(
    ("prediction", "reference"),
    [("\\frac{4}{3}", "\\frac{3}{4}"), ("5", "4"), (None, "4"), ("(3,\\pi)", "(3,\\frac{\\pi}{2})"),
     ("", "0")],
)
def test_not_equivalent(prediction, reference):
    assert not answers_equivalent(prediction, reference)


def test_normalize_answer_idempotent():
    for s in ["\\left( 3, \\frac{\\pi}{2} \\right)", "\\dfrac12", "x=5", "12.50\\text{ dollars}"]:
        once = normalize_answer(s)
        assert normalize_answer(once) == once


class BoxLM:
    def prompt_ids(self, text, chat=False):
        assert chat
        return [0]

    def generate(self, prompts, max_new_tokens, seed=0, stop_strings=()):
        answers = ["so \\boxed{\\dfrac{3}{4}}", "\\boxed{5}", "\\boxed{(3, \\frac{\\pi}{2})}"]
        return [Generation(a, [0], "eos", 4) for a in answers[: len(prompts)]]


def test_task_scores_fixture(tmp_path):
    r = Math500Task(EvaluateOptions(math500=Math500Options(file=FIXTURE))).run(BoxLM(), limit=None, seed=0)
    assert [s["correct"] for s in r.samples] == [True, False, True]
    assert r.metrics["exact_match"] == pytest.approx(2 / 3) and r.samples[0]["subject"] == "Prealgebra"
    bad = tmp_path / "m.jsonl"
    bad.write_text('{"problem": "p"}\n')
    with pytest.raises(FastpruneError, match=r"missing field\(s\) answer"):
        Math500Task(EvaluateOptions(math500=Math500Options(file=bad)))


def test_tiny_model_end_to_end(tiny_lm):
    options = EvaluateOptions(max_new_tokens=6, math500=Math500Options(file=FIXTURE))
    r = Math500Task(options).run(tiny_lm, limit=2, seed=0)
    assert r.n == 2 and r.metrics["exact_match"] == 0.0
