"""The vLLM peer of bench_generate: its worker protocol on a stand-in ``vllm`` package, and on real vLLM.

The stand-in tests start the real worker script through the real client (own process group, pipes, the
CPU binding environment) under this Python with ``tests/benchmarks/fake_vllm`` on its path; the test
marked ``vllm`` runs vLLM itself (``make setup-vllm``) on a tiny checkpoint.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FAKE = Path(__file__).resolve().with_name("fake_vllm")
VLLM_PYTHON = os.environ.get("FASTPRUNE_VLLM_PYTHON") or str(ROOT / ".venv-vllm" / "bin" / "python")
if str(ROOT / "benchmarks") not in sys.path:
    sys.path.insert(0, str(ROOT / "benchmarks"))

import peer_vllm  # noqa: E402

from fastprune.engines.process_group import group_alive  # noqa: E402
from fastprune.errors import FastpruneError  # noqa: E402


@pytest.fixture
def fake_python(tmp_path, monkeypatch):
    """(interpreter that imports the stand-in vllm, log of its calls)."""
    script = tmp_path / "fake-vllm-python"
    script.write_text(f'#!/bin/sh\nPYTHONPATH={FAKE} exec {sys.executable} "$@"\n')
    script.chmod(0o755)
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_VLLM_LOG", str(log))
    monkeypatch.delenv("FAKE_VLLM_MODE", raising=False)
    return str(script), lambda: [json.loads(line) for line in log.read_text().splitlines()]


def _peer(python, tmp_path, **kw):
    return peer_vllm.VLLMPeer("/models/ckpt", python, "float32", 256, 4, 1, tmp_path / "worker.log",
                              startup_timeout=60, request_timeout=60, **kw)


def test_worker_runs_batches_forced_to_length_on_the_ids_sent(fake_python, tmp_path):
    python, calls = fake_python
    prompts = [[5, 6, 7], [9] * 11]
    with _peer(python, tmp_path) as peer:
        assert peer.info["version"] == "0.0-fake" and peer.info["dtype"] == "float32"
        assert peer.info["startup_s"] >= peer.info["load_s"] >= 0
        run = peer.runner(prompts, {"temperature": 0.9, "top_p": 0.95, "top_k": 0}, [3, 4])(6)
        assert run.new_tokens == [6, 6] and run.prompt_ids_match is True
        assert run.token_ids[0] == [(18 + 3 + k) % 100 for k in range(6)]
        assert 0.006 <= run.seconds < 5  # timed in the worker around generate (the stand-in sleeps 6 ms)
        assert peer.generate(prompts, 1).new_tokens == [1, 1]
        pgid = peer.process.pid
        assert peer.label == "vllm 0.0-fake offline, float32"
    assert peer.process is None and not group_alive(pgid)
    load, first, second = calls()
    assert load["model"] == "/models/ckpt" and load["kwargs"]["enable_prefix_caching"] is False
    assert load["kwargs"]["dtype"] == "float32" and load["kwargs"]["max_num_seqs"] == 4
    assert load["env"] == {"VLLM_CPU_OMP_THREADS_BIND": peer_vllm.bound_cores(1), "VLLM_CPU_KVCACHE_SPACE": "1",
                           "VLLM_ENABLE_V1_MULTIPROCESSING": "0", "PYTHONPATH": str(FAKE)}
    assert first["prompts"] == [{"prompt_token_ids": p} for p in prompts] and first["use_tqdm"] is False
    assert [p["seed"] for p in first["params"]] == [3, 4]
    for p in first["params"]:
        assert p["max_tokens"] == p["min_tokens"] == 6 and p["ignore_eos"] is True and p["detokenize"] is False
        assert p["temperature"] == 0.9 and p["top_p"] == 0.95 and p["top_k"] == 0 and p["min_p"] == 0.0
        assert p["repetition_penalty"] == 1.0 and p["presence_penalty"] == p["frequency_penalty"] == 0.0
    assert second["params"][0]["temperature"] == 0.0 and second["params"][0]["seed"] is None
    assert "loading (vLLM logs to stdout)" in (tmp_path / "worker.log").read_text()


def test_a_checkpoint_vllm_cannot_load_is_a_clear_error(fake_python, tmp_path, monkeypatch):
    python, _ = fake_python
    monkeypatch.setenv("FAKE_VLLM_MODE", "fail-load")
    peer = _peer(python, tmp_path)
    with pytest.raises(FastpruneError, match=r"vLLM could not load /models/ckpt: RuntimeError: fake: cannot load"):
        peer.__enter__()
    assert peer.process is None


def test_a_worker_that_dies_mid_run_names_its_log(fake_python, tmp_path, monkeypatch):
    python, _ = fake_python
    monkeypatch.setenv("FAKE_VLLM_MODE", "die-on-generate")
    with _peer(python, tmp_path) as peer, pytest.raises(FastpruneError, match=r"exited with code 3; last lines of "
                                                                             r"\S*worker.log:(\n.*)*fake: dying"):
        peer.generate([[1, 2]], 4)


def test_bench_batch_row_from_the_worker(fake_python, tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_generate

    from fastprune.engines import GenerationEngine
    from fastprune.models import load_model

    loaded = load_model("tiny:llama:2", dtype="float32", device="cpu")
    engine = GenerationEngine(loaded, max_batch_size=2, max_seq_len=64)
    prompts = [engine.encode_prompt(q)[:16] for q in ("a b", "c d e")]
    with _peer(fake_python[0], tmp_path) as peer:
        row = bench_generate.bench_batch(loaded, engine, prompts, 2, 8, 2, peers={"vllm": peer})
    vllm = row["vllm"]
    assert vllm["new_tokens_per_sequence"] == [8, 8] and vllm["prompt_ids_match"] is True
    assert len(vllm["samples"]["seconds"]) == 2 and all(s >= 0.008 for s in vllm["samples"]["seconds"])
    assert vllm["outside_overhead_ms"] >= 0  # the caller's clock includes the worker's
    assert vllm["same_greedy_tokens_as_fastprune"] == 0.0  # the stand-in's tokens are not the model's


@pytest.mark.vllm
@pytest.mark.skipif(not Path(VLLM_PYTHON).is_file(),
                    reason=f"no vLLM environment at {VLLM_PYTHON} (run `make setup-vllm` or set FASTPRUNE_VLLM_PYTHON)")
def test_vllm_peer_row_on_a_tiny_checkpoint(tmp_path, capsys):
    """Real vLLM (CPU attention needs head size >= 32): the row exists, every sequence had the asked length."""
    import bench_generate

    from fastprune.models import byte_tokenizer, tiny_model

    model_dir = tmp_path / "tiny-llama"
    tiny_model("llama", 2, num_attention_heads=2, num_key_value_heads=1, head_dim=32).save_pretrained(model_dir)
    byte_tokenizer().save_pretrained(model_dir)
    out = tmp_path / "gen.json"
    assert bench_generate.main(["--model", str(model_dir), "--batches", "1,2", "--new-tokens", "4", "--repeats", "2",
                                "--peers", "vllm", "--vllm-python", VLLM_PYTHON, "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    info = doc["peers"]["vllm"]
    assert info["skipped"] is None and info["version"] == "0.32.0" and info["dtype"] == "float32"
    assert info["startup_s"] > 0 and info["precision"] == "float32, the engine's dtype"
    for row in doc["results"]:
        vllm = row["vllm"]
        assert vllm["new_tokens_per_sequence"] == [4] * row["batch"]
        assert vllm["prompt_tokens"] == row["prompt_tokens"] and vllm["prompt_ids_match"] is True
        assert len(vllm["samples"]["seconds"]) == 2 and vllm["ms_per_step"] > 0
        assert row["vs_peers"]["vllm"]["ms_per_step"]["n"] == 2
    assert "vs vllm (vllm 0.32.0 offline, float32)" in capsys.readouterr().err


def test_sigterm_mid_run_stops_the_worker_and_removes_the_peer_folder(fake_python, tmp_path):
    import signal
    import subprocess
    import time

    from fastprune.engines.process_group import group_alive

    python, calls = fake_python
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch), "FAKE_VLLM_TOKEN_DELAY": "0.5", "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen([sys.executable, str(ROOT / "benchmarks" / "bench_generate.py"), "--model", "tiny:llama:2",
                             "--batches", "1", "--new-tokens", "4", "--repeats", "50", "--peers", "vllm",
                             "--vllm-python", python, "--out", str(tmp_path / "gen.json")],
                            stderr=subprocess.PIPE, text=True, env=env)
    for line in proc.stderr:
        if "repeat 1/50" in line:
            break
    time.sleep(1)
    proc.send_signal(signal.SIGTERM)
    proc.stderr.read()
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    worker = next(c["pid"] for c in calls() if c["call"] == "LLM")
    assert not group_alive(worker)  # the worker leads its own group
    assert list(scratch.glob("fastprune-peers-*")) == [] and not (tmp_path / "gen.json").exists()
