import pytest
import torch

from fastprune.evaluate.probes import first_token_choice, grouped_accuracy, mean


def test_single_token_path_reads_logits_after_shared_prefix(tiny_lm):
    prompts = [tiny_lm.encode("Q: 2+2? A:"), tiny_lm.encode("Q: 9*9? A:")]
    candidates = [" " + c for c in "0123456789"]
    got = first_token_choice(tiny_lm, prompts, candidates)
    # byte tokenizer: " 7" is [" ", "7"], so the choice is the argmax over digit ids after prompt + " "
    digit_ids = [tiny_lm.encode(c)[0] for c in "0123456789"]
    for p, g in zip(prompts, got, strict=True):
        with torch.no_grad():
            logits = tiny_lm.model(torch.tensor([p + tiny_lm.encode(" ")])).logits[0, -1]
        assert g == candidates[int(logits[digit_ids].argmax())]


class SplitLM:
    """Candidates of different token lengths force the whole-continuation comparison."""

    def encode(self, text):
        return {"a": [1], "bb": [2, 3], "c": [4]}[text]

    def next_token_logprobs(self, prompts):  # pragma: no cover - must not be used here
        raise AssertionError("single-token path taken for multi-token candidates")

    def loglikelihood(self, pairs):
        table = {(1,): -3.0, (2, 3): -1.0, (4,): -2.0}
        return [(table[tuple(c)] - 10.0 * p[0], False) for p, c in pairs]


def test_multi_token_candidates_use_loglikelihood():
    assert first_token_choice(SplitLM(), [[0], [1]], ["a", "bb", "c"]) == ["bb", "bb"]


def test_grouped_accuracy_and_mean():
    samples = [{"depth": 2, "correct": True}, {"depth": 2, "correct": False}, {"depth": 4, "correct": True}]
    assert grouped_accuracy(samples, "depth") == {"exact_match/2": 0.5, "exact_match/4": 1.0}
    assert mean([]) == 0.0 and mean([True, False]) == pytest.approx(0.5)
