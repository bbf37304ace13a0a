"""stops: stop strings found across token boundaries, EOS and length endings, result text."""

from __future__ import annotations

from fastprune.engines.native.stops import ActiveSequence
from fastprune.engines.request_types import GenerationRequest, SamplingParams
from fastprune.models import byte_tokenizer


def _seq(params, prompt_len=3, max_total=100):
    req = GenerationRequest(list(range(1, prompt_len + 1)), params, id="r")
    return ActiveSequence(index=0, request=req, seed=0, stop_ids=frozenset({258}), max_total=max_total)


def test_stop_string_split_over_tokens_and_multibyte_text():
    tok = byte_tokenizer()
    seq = _seq(SamplingParams(50, stop_strings=("END", "zz")))
    ids = list("héllo E".encode()) + list(b"ND tail")
    n = next(i for i, t in enumerate(ids) if seq.append(t, tok))
    assert seq.finish_reason == "stop_string" and n == len("héllo END".encode()) - 1
    res = seq.result(tok)
    assert res.text == "héllo " and res.token_ids == ids[: n + 1] and res.num_tokens == n + 1


def test_eos_and_length_endings():
    tok = byte_tokenizer()
    seq = _seq(SamplingParams(10))
    assert not seq.append(ord("a"), tok) and seq.append(258, tok)
    res = seq.result(tok)
    assert (res.finish_reason, res.text, res.token_ids) == ("eos", "a", [ord("a"), 258])

    seq = _seq(SamplingParams(2))
    assert not seq.append(ord("x"), tok) and seq.append(ord("y"), tok)
    assert seq.result(tok).finish_reason == "length"
    capped = _seq(SamplingParams(50), prompt_len=3, max_total=5)
    assert not capped.append(ord("x"), tok) and capped.append(ord("y"), tok)
    assert capped.finish_reason == "length" and capped.position == 4
