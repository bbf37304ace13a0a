from pathlib import Path

import pytest

from fastprune.errors import FastpruneError
from fastprune.evaluate import EvaluateOptions
from fastprune.evaluate.lm import Generation
from fastprune.evaluate.xsum import XSumOptions, XSumTask, lcs_length, rouge_l, tokens

FIXTURE = Path(__file__).parent / "fixtures" / "xsum.jsonl"


def test_tokens_and_lcs():
    assert tokens("The Cat's hat, 2024!") == ["the", "cat", "s", "hat", "2024"]
    assert lcs_length(["a", "b", "c", "d"], ["a", "c", "d", "e"]) == 3
    assert lcs_length([], ["a"]) == 0


def test_rouge_l_values():
    assert rouge_l("the cat sat", "the cat sat") == 1.0
    assert rouge_l("dog", "the cat sat") == 0.0
    assert rouge_l("", "x") == 0.0
    # LCS("the cat sat on the mat", "the cat on a mat") = the cat on mat = 4; P = 4/6, R = 4/5
    f1 = 2 * (4 / 6) * (4 / 5) / (4 / 6 + 4 / 5)
    assert rouge_l("the cat sat on the mat", "the cat on a mat") == pytest.approx(f1)


class CopyLM:
    def prompt_ids(self, text, chat=False):
        return [0]

    def generate(self, prompts, max_new_tokens, seed=0, stop_strings=()):
        text = " A bakery has won a national award for its bread."
        return [Generation(text, [0], "eos", 10)] * len(prompts)


def test_task_scores_rouge(tmp_path):
    r = XSumTask(EvaluateOptions(xsum=XSumOptions(file=FIXTURE))).run(CopyLM(), limit=None, seed=0)
    assert r.n == 2 and r.primary == "rougeL"
    assert r.samples[1]["rougeL"] > 0.8 and r.samples[0]["rougeL"] < 0.3
    bad = tmp_path / "x.jsonl"
    bad.write_text('{"document": "text"}\n')
    with pytest.raises(FastpruneError, match=r"missing field\(s\) summary"):
        XSumTask(EvaluateOptions(xsum=XSumOptions(file=bad)))


def test_tiny_model_end_to_end(tiny_lm):
    r = XSumTask(EvaluateOptions(max_new_tokens=8, xsum=XSumOptions(file=FIXTURE))).run(tiny_lm, limit=1, seed=0)
    assert r.n == 1 and 0.0 <= r.metrics["rougeL"] <= 1.0
