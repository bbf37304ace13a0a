"""bench_generate's arithmetic on synthetic timings: ratios against the fastest HF variant, flags, peers."""

import importlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load(name):
    # Imported once, as bench_generate imports its neighbours (benchmarks/ on the path): a second copy of
    # peers.py would make a second PeerRun class.
    if str(ROOT / "benchmarks") not in sys.path:
        sys.path.insert(0, str(ROOT / "benchmarks"))
    return importlib.import_module(name)


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


def test_peers_say_why_they_were_skipped(monkeypatch, tmp_path):
    peers = _load("peers")
    monkeypatch.setattr(peers.importlib.util, "find_spec", lambda name: None)
    monkeypatch.delenv("FASTPRUNE_VLLM_PYTHON", raising=False)
    monkeypatch.setattr(peers, "DEFAULT_VLLM_PYTHON", tmp_path / ".venv-vllm" / "bin" / "python")
    status = peers.peer_status()
    assert set(status) == {"llama.cpp", "vllm"} and not status["llama.cpp"]["installed"]
    assert "llama-cpp-python is not installed" in status["llama.cpp"]["skipped"]
    lines = peers.skipped_lines(status)
    assert lines[0].startswith(f"peer vllm: skipped: no vLLM environment at {tmp_path}/.venv-vllm/bin/python")
    assert "run `make setup-vllm`" in lines[0] and "--vllm-python" in lines[0]
    assert lines[1].startswith("peer llama.cpp: skipped: llama-cpp-python is not installed")
    # present: nothing skipped unless not asked for
    python = tmp_path / "python"
    python.write_text("#!/bin/sh\n")
    python.chmod(0o755)
    monkeypatch.setattr(peers.importlib.util, "find_spec", lambda name: object())
    status = peers.peer_status(vllm_python_option=str(python))
    assert status["vllm"] == {"installed": True, "python": str(python), "skipped": None}
    assert status["llama.cpp"] == {"installed": True, "skipped": None}
    assert peers.peer_status(["vllm"], str(python))["llama.cpp"]["skipped"] == "not asked for (--peers)"
    assert peers.parse_peers("none") == [] and peers.parse_peers("vllm, llama.cpp") == ["vllm", "llama.cpp"]
    with pytest.raises(peers.FastpruneError, match="unknown peer 'sglang'"):
        peers.parse_peers("vllm,sglang")


class StandInPeer:
    """A peer that reports the seconds it was told to: prefill ``prefill`` s, then ``step`` s per token."""

    label = "stand-in 1.0, float32"

    def __init__(self, bench, prefill, step, lengths_off_by=0, prompt_ids_match=True):
        self.bench, self.prefill, self.step = bench, prefill, step
        self.lengths_off_by, self.prompt_ids_match = lengths_off_by, prompt_ids_match
        self.calls = []

    def runner(self, prompts, sampling, seeds):
        def run(n):
            self.calls.append((len(prompts), n, sampling, seeds, [len(p) for p in prompts]))
            return self.bench.PeerRun(new_tokens=[n + self.lengths_off_by] * len(prompts),
                                      seconds=self.prefill + (n - 1) * self.step,
                                      token_ids=[[7] * n for _ in prompts], prompt_ids_match=self.prompt_ids_match)
        return run


@pytest.fixture(scope="module")
def tiny_engine():
    from fastprune.engines import GenerationEngine
    from fastprune.models import load_model

    loaded = load_model("tiny:llama:2", dtype="float32", device="cpu")
    engine = GenerationEngine(loaded, max_batch_size=2, max_seq_len=64)
    prompts = [engine.encode_prompt(q)[:20] for q in ("one two", "three four five")]
    return loaded, engine, prompts


def test_peer_row_takes_the_peers_own_seconds_and_compares_like_hf(tiny_engine):
    bench = _load("bench_generate")
    loaded, engine, prompts = tiny_engine
    peer = StandInPeer(bench, prefill=0.020, step=0.004)
    row = bench.bench_batch(loaded, engine, prompts, 2, 5, 3, peers={"vllm": peer})
    vllm = row["vllm"]
    # warm-up (1 and 5 tokens) + 3 repeats of both, each on the batch's real prompt ids and forced lengths
    assert [c[1] for c in peer.calls] == [1, 5] * 4
    assert all(c[0] == 2 and c[4] == [len(p) for p in prompts] for c in peer.calls)
    assert peer.calls[0][2] == {"temperature": 0.0} and peer.calls[0][3] is None  # greedy: no seeds
    assert vllm["samples"]["seconds"] == pytest.approx([0.036] * 3) and vllm["samples"]["prefill_s"] == [0.020] * 3
    assert vllm["ms_per_step"] == pytest.approx(4.0) and vllm["prefill_ms"] == pytest.approx(20.0)
    assert vllm["tokens_per_s"] == pytest.approx(2 * 5 / 0.036)
    assert vllm["prefill_real_tokens_per_s"] == pytest.approx(sum(map(len, prompts)) / 0.020)
    assert vllm["new_tokens_per_sequence"] == [5, 5] and vllm["prompt_tokens"] == [len(p) for p in prompts]
    assert vllm["prompt_ids_match"] is True and vllm["setup"] == "stand-in 1.0, float32"
    # the stand-in's seconds are made up, so the caller's clock (microseconds) is below them here
    assert vllm["outside_overhead_ms"] < 0 and vllm["same_greedy_tokens_as_fastprune"] in (0.0, 0.5, 1.0)
    bench.add_ratios(row, [])
    ours = row["fastprune"]
    for metric, key in (("tokens_per_s", "seconds"), ("ms_per_step", "step_s")):
        ratio = row["vs_peers"]["vllm"][metric]
        assert ratio["value"] == pytest.approx(np.median(vllm["samples"][key]) / np.median(ours["samples"][key]))
        assert ratio["n"] == 3 and ratio["method"] == "percentile bootstrap, paired"
    assert row["fastest_hf"] in ("hf-dynamic", "hf-static")  # peers never become the HF headline
    text = bench.summary_line(row, 1.0, 0.001)
    assert "vs vllm (stand-in 1.0, float32)" in text and "ms/step" in text


def test_a_peer_that_miscounts_is_dropped_with_the_reason(tiny_engine):
    bench = _load("bench_generate")
    loaded, engine, prompts = tiny_engine
    row = bench.bench_batch(loaded, engine, prompts, 2, 4, 1, peers={
        "vllm": StandInPeer(bench, 0.01, 0.001, lengths_off_by=-1),
        "llama.cpp": StandInPeer(bench, 0.01, 0.001, prompt_ids_match=False)})
    assert "vllm" not in row and "llama.cpp" not in row
    assert row["failed"]["vllm"] == "FastpruneError: vllm produced [0, 0] new tokens for 2 sequences, not 1 each"
    assert row["failed"]["llama.cpp"] == "FastpruneError: llama.cpp ran prompt ids other than the ones sent"
    bench.add_ratios(row, [])
    assert "vs_peers" not in row and "fastprune" in row


def test_script_skips_absent_peers_and_says_so(tmp_path, monkeypatch, capsys):
    bench = _load("bench_generate")
    peers = _load("peers")
    monkeypatch.delenv("FASTPRUNE_VLLM_PYTHON", raising=False)
    monkeypatch.setattr(peers.importlib.util, "find_spec", lambda name: None)  # no llama_cpp here
    out = tmp_path / "gen.json"
    assert bench.main(["--model", "tiny:llama:2", "--batches", "1", "--new-tokens", "3", "--repeats", "1",
                       "--max-seq-len", "512", "--vllm-python", str(tmp_path / "missing-python"),
                       "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["peers"]["vllm"]["skipped"].startswith(f"no vLLM environment at {tmp_path}/missing-python")
    assert "make setup-vllm" in doc["peers"]["vllm"]["skipped"]
    assert doc["peers"]["llama.cpp"]["skipped"].startswith("llama-cpp-python is not installed")
    assert "vllm" not in doc["results"][0] and "vs_peers" not in doc["results"][0]
    err = capsys.readouterr().err
    assert "peer vllm: skipped: no vLLM environment" in err and "peer llama.cpp: skipped: llama-cpp-python" in err
