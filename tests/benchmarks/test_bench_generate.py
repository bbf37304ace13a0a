"""bench_generate's arithmetic on synthetic timings: ratios against the fastest HF variant, flags, peers."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _runner(seconds, step, n=6, spread=0.01, seed=0):
    rng = np.random.default_rng(seed)
    full = list(seconds * (1 + spread * rng.standard_normal(n)))
    steps = list(step * (1 + spread * rng.standard_normal(n)))
    return {"seconds": float(np.median(full)), "tokens_per_s": 8 / np.median(full), "ms_per_step": 1e3 * step,
            "cv_full": float(np.std(full, ddof=1) / np.mean(full)), "cv_step": float(np.std(steps, ddof=1) /
                                                                                   np.mean(steps)),
            "samples": {"seconds": full, "step_s": steps, "prefill_s": full}}


def test_ratios_are_against_the_fastest_hf_variant():
    bench = _load("bench_generate")
    row = {"batch": 8, "padded_token_share": 0.25, "failed": {"hf-static-compile": "TimeoutError: budget"},
           "hf-dynamic": _runner(3.0, 0.080, seed=1), "hf-static": _runner(2.0, 0.050, seed=2),
           "fastprune": _runner(1.0, 0.025, seed=3)}
    bench.add_ratios(row, [])
    assert row["fastest_hf"] == "hf-static"
    assert row["speedup_tokens_per_s"] == pytest.approx(2.0, rel=0.03)
    assert row["speedup_ms_per_step"] == pytest.approx(2.0, rel=0.03)
    assert row["vs_hf"]["hf-dynamic"]["ms_per_step"]["value"] == pytest.approx(3.2, rel=0.03)
    static = row["vs_hf"]["hf-static"]["tokens_per_s"]
    assert static["low"] < 2.0 < static["high"] and static["unreliable"] == []
    text = bench.summary_line(row, 10.0, 0.01)
    assert "HF padding 25%" in text and "vs hf-static (fastest HF)" in text
    assert "hf-static-compile: failed: TimeoutError: budget" in text and "UNRELIABLE" not in text


def test_noise_reaches_every_ratio():
    bench = _load("bench_generate")
    row = {"batch": 1, "padded_token_share": 0.0, "failed": {}, "hf-dynamic": _runner(2.0, 0.05, seed=1),
           "fastprune": _runner(1.0, 0.025, spread=0.3, seed=2)}
    bench.add_ratios(row, ["load average 9.00 before / 9.00 after exceeds the 2 cores in use"])
    reasons = row["vs_hf"]["hf-dynamic"]["ms_per_step"]["unreliable"]
    assert reasons[0].startswith("load average 9.00") and any("CV" in r for r in reasons)
    assert "UNRELIABLE: load average 9.00" in bench.summary_line(row, 10.0, 0.01)


def test_peers_say_why_they_were_skipped(monkeypatch):
    peers = _load("peers")
    monkeypatch.setattr(peers.importlib.util, "find_spec", lambda name: None)
    status = peers.peer_status()
    assert set(status) == {"llama.cpp", "vllm"} and not status["llama.cpp"]["installed"]
    assert "llama-cpp-python is not installed" in status["llama.cpp"]["skipped"]
    assert peers.skipped_lines(status)[1].startswith("peer vllm: skipped: vllm is not installed")
    monkeypatch.setattr(peers.importlib.util, "find_spec", lambda name: object())
    assert peers.peer_status()["vllm"] == {"installed": True, "skipped": "installed, but no runner for it is "
                                           "wired into the benchmarks yet"}
