"""Serving-benchmark arithmetic on synthetic timings with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from fastprune.bench.serving_stats import (
    describe,
    little_throughput,
    median_with_ci,
    ratio_with_ci,
    speedups,
    summarize_point,
)
from fastprune.engines.openai_client import StreamTiming


def timing(ttft: float, tpot: float, tokens: int, sent: float = 0.0) -> StreamTiming:
    return StreamTiming(sent=sent, chunk_times=[sent + ttft + k * tpot for k in range(tokens)], output_tokens=tokens)


def test_point_summary_recovers_the_synthetic_timings():
    rng = np.random.default_rng(0)
    ts = [timing(0.1 + 0.01 * rng.standard_normal(), 0.02 + 0.001 * rng.standard_normal(), 33) for _ in range(40)]
    p = summarize_point(ts, wall_seconds=10.0, concurrency=4)
    assert p["requests"] == 40 and p["output_tokens"] == 40 * 33
    assert p["ttft_s"]["median"] == pytest.approx(0.1, abs=0.01) and p["ttft_s"]["n"] == 40
    lo, hi = p["ttft_s"]["ci95"]
    assert lo < p["ttft_s"]["median"] < hi and hi - lo < 0.02
    assert p["tpot_s"]["median"] == pytest.approx(0.02, abs=0.001)
    assert p["output_tok_s_measured"] == pytest.approx(132.0) and p["request_s_measured"] == pytest.approx(4.0)
    # Little's law: 4 clients, 33 tokens per ~0.74 s request
    latency = np.mean([t.latency for t in ts])
    assert p["output_tok_s"]["value"] == pytest.approx(4 * 33 / latency)
    assert p["request_s"]["value"] == pytest.approx(4 / latency)


def test_little_law_interval_covers_and_narrows():
    rng = np.random.default_rng(1)
    lat = 1.0 + 0.1 * rng.standard_normal(200)
    r = little_throughput(np.full(200, 10.0), lat, concurrency=2)
    assert r["ci95"][0] < 20.0 / np.mean(lat) * 1.0001 and r["ci95"][1] > 20.0 / np.mean(lat) * 0.9999
    assert r["ci95"][1] - r["ci95"][0] < 1.0 and r["n"] == 200


def test_ratio_resolved_only_when_the_interval_excludes_one():
    rng = np.random.default_rng(2)
    base = 0.030 + 0.001 * rng.standard_normal(50)
    faster = 0.020 + 0.001 * rng.standard_normal(50)
    r = ratio_with_ci(base, faster, "time")
    assert r["value"] == pytest.approx(1.5, rel=0.05) and r["resolved"] and r["ci95"][0] > 1.0
    same = ratio_with_ci(base, 0.030 + 0.001 * rng.standard_normal(50), "time")
    assert not same["resolved"] and same["ci95"][0] < 1.0 < same["ci95"][1]
    assert "not resolved" in describe(same, 1.2, 1.15)
    text = describe(r, 1.6, 1.5)
    assert "1.50x by bytes" in text and "95% CI" in text and "n=50+50" in text
    tiny = median_with_ci([1.0])
    assert tiny["ci95"] is None and tiny["n"] == 1
    with pytest.raises(ValueError):
        ratio_with_ci(base, faster, "speed")


def test_speedups_from_request_timings():
    base = [timing(0.2, 0.04, 17) for _ in range(10)]
    pruned = [timing(0.1, 0.02, 17) for _ in range(10)]
    s = speedups(base, pruned)
    assert s["tpot"]["value"] == pytest.approx(2.0) and s["ttft"]["value"] == pytest.approx(2.0)
    assert s["output_rate"]["value"] == pytest.approx(base[0].latency / pruned[0].latency)
