"""Request/response mapping between fastprune's generation types and the OpenAI completions API."""

from __future__ import annotations

import pytest

from fastprune.engines import GenerationRequest, SamplingParams
from fastprune.engines.openai_client import (
    CompletionsClient,
    StreamTiming,
    completion_payload,
    finish_reason,
    parse_completion,
)
from fastprune.errors import FastpruneError


def test_payload_sends_ids_and_every_sampling_field():
    req = GenerationRequest([5, 6, 7], SamplingParams(max_new_tokens=9, temperature=0.9, top_p=0.95, seed=123,
                                                      stop_strings=("\n\nQ:",), stop_token_ids=(4,)), id="a")
    p = completion_payload("m", req)
    assert p["prompt"] == [5, 6, 7] and p["model"] == "m" and p["max_tokens"] == 9
    assert (p["temperature"], p["top_p"], p["top_k"], p["seed"]) == (0.9, 0.95, -1, 123)
    assert p["stop"] == ["\n\nQ:"] and p["stop_token_ids"] == [4] and "ignore_eos" not in p
    # generation_config defaults the server would otherwise apply are overridden explicitly
    assert p["repetition_penalty"] == 1.0 and p["min_p"] == 0.0
    greedy = completion_payload("m", GenerationRequest([1], SamplingParams(top_k=5, ignore_eos=True)))
    assert greedy["temperature"] == 0.0 and greedy["top_k"] == 5 and greedy["ignore_eos"] is True
    assert "seed" not in greedy and "stop" not in greedy


@pytest.mark.parametrize("choice, expected", [
    ({"finish_reason": "length"}, "length"),
    ({"finish_reason": "stop", "stop_reason": None}, "eos"),
    ({"finish_reason": "stop", "stop_reason": 2}, "eos"),
    ({"finish_reason": "stop", "stop_reason": "Question:"}, "stop_string"),
])
def test_finish_reasons(choice, expected):
    assert finish_reason(choice) == expected


def test_unknown_finish_reason_is_an_error():
    with pytest.raises(FastpruneError, match="unknown finish reason"):
        finish_reason({"finish_reason": "abort"})


def test_parse_keeps_text_and_token_ids():
    req = GenerationRequest([1, 2], id="x")
    body = {"choices": [{"text": " 42\n", "token_ids": [7, 8, 2], "finish_reason": "stop", "stop_reason": None}]}
    r = parse_completion(body, req)
    assert (r.id, r.text, r.token_ids, r.num_tokens, r.finish_reason) == ("x", " 42\n", [7, 8, 2], 3, "eos")
    no_ids = parse_completion({"choices": [{"text": "a", "finish_reason": "length"}],
                               "usage": {"completion_tokens": 4}}, req)
    assert no_ids.num_tokens == 4 and no_ids.token_ids == []
    with pytest.raises(FastpruneError, match="2 choices"):
        parse_completion({"choices": [{}, {}]}, req)


def test_stream_timing_arithmetic():
    t = StreamTiming(sent=10.0, chunk_times=[10.5, 10.7, 10.9, 11.1], output_tokens=5)
    assert t.ttft == pytest.approx(0.5) and t.latency == pytest.approx(1.1)
    assert t.tpot == pytest.approx(0.6 / 4)
    assert StreamTiming(sent=0.0, chunk_times=[1.0], output_tokens=1).tpot is None


def test_client_against_the_fake_server(fake_server):
    record, requests = fake_server()
    client = CompletionsClient(record.url)
    req = GenerationRequest([3, 4], SamplingParams(max_new_tokens=2, seed=1), id="r")
    r = parse_completion(client.complete(completion_payload(record.model, req)), req)
    assert r.token_ids == [8, 9] and r.text == "t8 t9 " and r.finish_reason == "length"
    timing = client.stream(completion_payload(record.model, req))
    assert len(timing.chunk_times) == 2 and timing.output_tokens == 2 and timing.finish_reason == "length"
    assert requests()[1]["stream"] is True and "return_token_ids" not in requests()[1]
    with pytest.raises(FastpruneError, match=r"HTTP 404.*does not exist"):
        client.complete(completion_payload("other-model", req))
    with pytest.raises(FastpruneError, match="http://host:port"):
        CompletionsClient("localhost:8000")


def test_streamed_steps_with_empty_text_are_still_timed(fake_server):
    record, _ = fake_server(FAKE_EMPTY_TEXT=1, FAKE_TOKEN_DELAY=0.01)
    req = GenerationRequest([3, 4], SamplingParams(max_new_tokens=4, ignore_eos=True), id="r")
    timing = CompletionsClient(record.url).stream(completion_payload(record.model, req))
    assert len(timing.chunk_times) == 4 and timing.output_tokens == 4 and timing.tpot >= 0.005
