"""The llama.cpp peer of bench_generate against a faithful stand-in ``llama_cpp`` (fake_llama_cpp.py).

llama-cpp-python builds llama.cpp from source, so it is not installed here; the stand-in takes the real
keywords and reproduces the real prompt-prefix reuse, and computes with the exported GGUF itself.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "benchmarks") not in sys.path:
    sys.path.insert(0, str(ROOT / "benchmarks"))

import peer_llama_cpp  # noqa: E402


@pytest.fixture
def fake_llama_cpp(monkeypatch, tmp_path):
    monkeypatch.setenv("FASTPRUNE_CACHE", str(tmp_path / "cache"))
    spec = importlib.util.spec_from_file_location("llama_cpp", Path(__file__).with_name("fake_llama_cpp.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setitem(sys.modules, "llama_cpp", module)
    return module


def test_closest_gguf_type_to_the_engine_dtype():
    assert [peer_llama_cpp.gguf_type(d) for d in ("float32", "float16", "bfloat16", "torch.bfloat16")] == \
        ["f32", "f16", "f16", "f16"]
    assert peer_llama_cpp.precision_note("f32", "float32") == "GGUF f32: the engine's float32 weights exactly"
    assert peer_llama_cpp.precision_note("f16", "bfloat16") == "GGUF f16: the closest llama.cpp type to the " \
        "engine's bfloat16"


def test_sampler_keywords_switch_off_llama_cpp_extras():
    greedy = peer_llama_cpp.sampler_kwargs({"temperature": 0.0})
    assert greedy["temp"] == 0.0 and greedy["top_k"] == 1
    paper = peer_llama_cpp.sampler_kwargs({"temperature": 0.9, "top_p": 0.95, "top_k": 0})
    assert paper["temp"] == 0.9 and paper["top_p"] == 0.95 and paper["top_k"] == 0
    for kw in (greedy, paper):  # llama-cpp-python's defaults: min_p 0.05, top_k 40 would change the work
        assert kw["min_p"] == 0.0 and kw["typical_p"] == 1.0 and kw["repeat_penalty"] == 1.0
        assert kw["frequency_penalty"] == kw["presence_penalty"] == 0.0


def test_exact_lengths_full_prefill_every_time_and_the_engines_greedy_tokens(fake_llama_cpp, tmp_path):
    from fastprune.engines import GenerationEngine, GenerationRequest, SamplingParams
    from fastprune.models import load_model

    loaded = load_model("tiny:llama:2", dtype="float32", device="cpu")
    engine = GenerationEngine(loaded, max_batch_size=2, max_seq_len=64)
    prompts = [engine.encode_prompt(q)[:12] for q in ("one two", "three four five")]
    with peer_llama_cpp.LlamaCppPeer("tiny:llama:2", "float32", tmp_path, threads=1, n_ctx=64) as peer:
        info = peer.info
        assert info["gguf_type"] == "f32" and info["export_verified"] == "passed"  # llama.cpp greedy == HF
        assert info["version"] == "0.3.35-fake" and Path(info["gguf"]).is_file() and len(info["gguf_sha256"]) == 64
        llm = fake_llama_cpp.instances[-1]
        assert llm.init["n_threads"] == llm.init["n_threads_batch"] == 1 and llm.init["n_ctx"] == 64
        assert llm.init["verbose"] is False and llm.init["model_path"] == info["gguf"]
        assert llm.init["n_gpu_layers"] == 0 and info["n_gpu_layers"] == 0  # a CPU run stays on the CPU
        fn = peer.runner(prompts, {"temperature": 0.0}, None)
        run = fn(5)
        assert run.new_tokens == [5, 5] and run.seconds is None  # timed by the caller, in this process
        again = fn(5)
        # each sequence: its whole prompt once, then one token per step for the 4 after the first
        per_sequence = [len(prompts[0]), 1, 1, 1, 1, len(prompts[1]), 1, 1, 1, 1]
        assert llm.evals == per_sequence * 2 and again.token_ids == run.token_ids
        assert fn(1).new_tokens == [1, 1] and llm.evals[-2:] == [len(prompts[0]), len(prompts[1])]
        assert all(c["reset"] and c["temp"] == 0.0 and c["min_p"] == 0.0 for c in llm.generate_calls)
        ours = engine.generate([GenerationRequest(p, SamplingParams(max_new_tokens=5, ignore_eos=True))
                                for p in prompts])
        assert run.token_ids == [list(r.token_ids) for r in ours]
        peer.runner(prompts, {"temperature": 0.9, "top_p": 0.95, "top_k": 0}, [3, 4])(2)
        assert llm.seeds == [3, 4] and llm.generate_calls[-1]["temp"] == 0.9
    assert llm.closed and peer.llm is None


def test_bench_script_row_for_llama_cpp(fake_llama_cpp, tmp_path, capsys):
    import bench_generate

    out = tmp_path / "gen.json"
    assert bench_generate.main(["--model", "tiny:llama:2", "--batches", "1,2", "--new-tokens", "3", "--repeats", "2",
                                "--max-seq-len", "256", "--peers", "llama.cpp", "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    info = doc["peers"]["llama.cpp"]
    assert info["skipped"] is None and info["precision"] == "GGUF f32: the engine's float32 weights exactly"
    assert info["export_s"] > 0 and info["export_verified"] == "passed"
    assert doc["peers"]["vllm"]["skipped"] == "not asked for (--peers)"
    for row in doc["results"]:
        peer = row["llama.cpp"]
        assert peer["new_tokens_per_sequence"] == [3] * row["batch"] and len(peer["samples"]["seconds"]) == 2
        assert peer["same_greedy_tokens_as_fastprune"] == 1.0
        assert row["vs_peers"]["llama.cpp"]["tokens_per_s"]["n"] == 2
    assert not Path(info["gguf"]).exists()  # the export lived in a temporary folder
    assert "vs llama.cpp (llama.cpp 0.3.35-fake, GGUF f32, sequences in turn)" in capsys.readouterr().err
