"""VLLMEngine: the engine interface over a (fake) server: order, concurrency bound, errors."""

from __future__ import annotations

import pytest

from fastprune.engines import GenerationRequest, SamplingParams
from fastprune.engines.vllm_engine import VLLMEngine
from fastprune.errors import FastpruneError


def test_generate_returns_results_in_request_order(fake_server):
    record, requests = fake_server(FAKE_TOKEN_DELAY=0)
    engine = VLLMEngine(record.url, record.model, concurrency=3)
    reqs = [GenerationRequest([i, i + 1], SamplingParams(max_new_tokens=8, seed=i), id=f"p{i}") for i in range(7)]
    results = engine.generate(reqs)
    assert [r.id for r in results] == [f"p{i}" for i in range(7)]
    assert [r.token_ids[0] for r in results] == [(2 * i + 1 + i) % 200 for i in range(7)]
    assert all(r.finish_reason == "eos" and r.num_tokens == 3 for r in results)
    sent = requests()
    assert sorted(tuple(s["prompt"]) for s in sent) == sorted(tuple(r.prompt_ids) for r in reqs)
    assert {s["seed"] for s in sent} == set(range(7))


def test_stream_keeps_at_most_concurrency_requests_in_flight(fake_server, monkeypatch):
    record, _ = fake_server()
    engine = VLLMEngine(record.url, record.model, concurrency=2)
    live, peak = [0], [0]
    real = engine._one

    def counting(request):
        live[0] += 1
        peak[0] = max(peak[0], live[0])
        try:
            return real(request)
        finally:
            live[0] -= 1

    monkeypatch.setattr(engine, "_one", counting)
    got = list(engine.stream([GenerationRequest([1, i]) for i in range(9)]))
    assert sorted(i for i, _ in got) == list(range(9)) and peak[0] <= 2


def test_a_refused_request_stops_the_stream(fake_server):
    record, requests = fake_server()
    engine = VLLMEngine(record.url, "not-served", concurrency=2)
    with pytest.raises(FastpruneError, match="does not exist"):
        list(engine.stream([GenerationRequest([1, i]) for i in range(50)]))
    assert len(requests()) < 50  # no new requests after the failure
    with pytest.raises(FastpruneError, match=">= 1"):
        VLLMEngine(record.url, record.model, concurrency=0)
