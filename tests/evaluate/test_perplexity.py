import math
from pathlib import Path

import pytest
import torch

from fastprune.errors import FastpruneError
from fastprune.evaluate import EvaluateOptions
from fastprune.evaluate.perplexity import PerplexityOptions, PerplexityTask, token_nlls, windows

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize(
    ("n", "length", "stride"), [(10, 4, 2), (10, 4, 4), (11, 4, 3), (3, 8, 8), (100, 16, 5), (2, 2, 1)]
)
def test_windows_score_every_token_once_with_context(n, length, stride):
    spans = windows(n, length, stride)
    scored = [p for _, e, first in spans for p in range(first, e)]
    assert scored == list(range(1, n))
    for b, e, first in spans:
        assert e - b <= length and b < first  # at least one token of context


def test_windows_bad_arguments():
    with pytest.raises(FastpruneError):
        windows(10, 1, 1)
    with pytest.raises(FastpruneError):
        windows(10, 4, 0)


def direct_nll(model, ids, length):
    """Each token scored from its own full window of up to ``length - 1`` previous tokens."""
    total = 0.0
    for p in range(1, len(ids)):
        ctx = ids[max(0, p - (length - 1)) : p]
        with torch.no_grad():
            logits = model(torch.tensor([ctx])).logits[0, -1].float()
        total -= logits.log_softmax(-1)[ids[p]].item()
    return total


def test_single_window_equals_direct_computation(tiny_lm):
    ids = tiny_lm.encode("short text for a direct check")
    nll, count = token_nlls(tiny_lm, ids, max_length=64, stride=64)
    assert count == len(ids) - 1
    with torch.no_grad():
        logp = tiny_lm.model(torch.tensor([ids])).logits[0].float().log_softmax(-1)
    want = -sum(logp[p - 1, ids[p]].item() for p in range(1, len(ids)))
    assert nll == pytest.approx(want, rel=1e-4)


def test_stride_one_equals_per_token_window(tiny_lm):
    ids = tiny_lm.encode("a sliding window of eight tokens")
    nll, count = token_nlls(tiny_lm, ids, max_length=8, stride=1)
    assert count == len(ids) - 1
    assert nll == pytest.approx(direct_nll(tiny_lm.model, ids, 8), rel=1e-4)


def test_limit_caps_windows(tiny_lm):
    ids = tiny_lm.encode("x" * 50)
    _, count = token_nlls(tiny_lm, ids, max_length=10, stride=5, limit=2)
    assert count == 9 + 5


def test_task_on_file(tiny_lm):
    options = EvaluateOptions(ppl=PerplexityOptions(file=FIXTURES / "short.txt", max_length=32, stride=16))
    r = PerplexityTask(options).run(tiny_lm, limit=None, seed=0)
    text = (FIXTURES / "short.txt").read_text()
    assert r.n == len(tiny_lm.encode(text)) - 1 == r.metrics["tokens"]
    assert r.metrics["ppl"] == pytest.approx(math.exp(r.metrics["nll"]))
    assert not r.higher_is_better and r.primary == "ppl"
    # a random model over a 320-token vocabulary: perplexity near the vocabulary size, far from 1
    assert 50 < r.metrics["ppl"] < 2000


def test_task_errors(tmp_path):
    with pytest.raises(FastpruneError, match="does not exist"):
        PerplexityTask(EvaluateOptions(ppl=PerplexityOptions(file=tmp_path / "nope.txt")))
    with pytest.raises(FastpruneError, match="stride"):
        PerplexityTask(EvaluateOptions(ppl=PerplexityOptions(file=FIXTURES / "short.txt", stride=0)))
