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
    """Candidates of different token lengths: scored from next-token log-probabilities, one call per prefix."""

    def __init__(self):
        self.calls = []

    def encode(self, text):
        return {"a": [1], "bb": [2, 3], "c": [4]}[text]

    def next_token_logprobs(self, prompts):
        self.calls.append([tuple(p) for p in prompts])
        rows = []
        for p in prompts:
            row = torch.full((5,), -50.0)
            if p[1:] == [2]:  # after prompt + "b": the second "b" is certain
                row[3] = 0.0
            else:  # after the prompt: a -3, b -1, c -2, shifted by the prompt id
                row[1], row[2], row[4] = -3.0 - 10 * p[0], -1.0 - 10 * p[0], -2.0 - 10 * p[0]
            rows.append(row)
        return torch.stack(rows)


def test_multi_token_candidates_sum_next_token_logprobs_one_call_per_prefix():
    lm = SplitLM()
    assert first_token_choice(lm, [[0], [1]], ["a", "bb", "c"]) == ["bb", "bb"]
    assert len(lm.calls) == 2  # the prefixes () and (2,), not one call per candidate


def test_multi_token_scores_equal_the_whole_continuation_loglikelihood(tiny_lm):
    prompts = [tiny_lm.encode("Q: 1+1? A:"), tiny_lm.encode("Q: 7-9? A: x")]
    candidates = [" 2", "-2", " 12", "2"]
    got = first_token_choice(tiny_lm, prompts, candidates)
    pairs = [(p, tiny_lm.encode(c)) for p in prompts for c in candidates]
    scores = [s for s, _ in tiny_lm.loglikelihood(pairs)]
    k = len(candidates)
    want = [candidates[max(range(k), key=lambda c, i=i: scores[i * k + c])] for i in range(len(prompts))]
    assert got == want


def test_grouped_accuracy_and_mean():
    samples = [{"depth": 2, "correct": True}, {"depth": 2, "correct": False}, {"depth": 4, "correct": True}]
    assert grouped_accuracy(samples, "depth") == {"exact_match/2": 0.5, "exact_match/4": 1.0}
    assert mean([]) == 0.0 and mean([True, False]) == pytest.approx(0.5)
