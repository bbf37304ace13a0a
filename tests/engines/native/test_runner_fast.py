"""runner_fast: which models take the direct decoder, and its logits equal HF's forward."""

from __future__ import annotations

import pytest
import torch

from fastprune.engines.native.runner_fast import FastRunner, fast_path_reason


@pytest.mark.parametrize("family, fast", [("llama", True), ("qwen3", True), ("mistral", True),
                                          ("gemma2", False), ("phi3", False)])
def test_fast_path_covers_llama_like_families_only(tiny, family, fast):
    loaded = tiny(family, layers=1)
    reason = fast_path_reason(loaded.model, loaded.adapter)
    assert (reason is None) == fast
    if not fast:
        assert family in reason


def test_prefill_and_decode_logits_equal_hf_forward(tiny):
    loaded = tiny("qwen2", layers=3)
    model = loaded.model
    runner = FastRunner(model, loaded.adapter, max_batch=2, max_seq_len=32)
    a, b = [5, 9, 200, 17, 3, 77], [42, 8]
    logits = runner.prefill([1, 0], [a, b])
    with torch.inference_mode():
        ref_a = model(torch.tensor([a])).logits[0, -1]
        ref_b = model(torch.tensor([b])).logits[0, -1]
    torch.testing.assert_close(logits[0], ref_a, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(logits[1], ref_b, rtol=1e-5, atol=1e-5)
    # One decode step: slot 0 holds b (next position 2), slot 1 holds a (next position 6).
    step = runner.decode([11, 12], [len(b), len(a)])
    with torch.inference_mode():
        ref_b2 = model(torch.tensor([b + [11]])).logits[0, -1]
        ref_a2 = model(torch.tensor([a + [12]])).logits[0, -1]
    torch.testing.assert_close(step[0], ref_b2, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(step[1], ref_a2, rtol=1e-5, atol=1e-5)


def _native_built() -> bool:
    from fastprune.ops import native

    return bool(native.availability("cpu"))


needs_native = pytest.mark.skipif(not _native_built(), reason="fastprune._native_cpu is not built")


def _run_steps(runner, prompts, steps):
    """Prefill ``prompts`` into slots 0..n-1, then ``steps`` greedy decode steps; every step's logits."""
    logits = [runner.prefill(list(range(len(prompts))), prompts)]
    positions = [len(p) for p in prompts]
    for _ in range(steps):
        tokens = logits[-1].argmax(-1).tolist()
        logits.append(runner.decode(tokens, positions))
        positions = [p + 1 for p in positions]
    return logits


@needs_native
@pytest.mark.parametrize("family", ["llama", "qwen2", "qwen3", "mistral"])
def test_native_decode_steps_match_the_torch_path(tiny, family):
    # qwen2: q/k/v biases; qwen3: q_norm/k_norm; mistral: a 64-token sliding window the prompts run past.
    loaded = tiny(family, layers=3)
    prompts = [list(range(3, 70)), [5, 9, 200], [42] * 30]
    native = FastRunner(loaded.model, loaded.adapter, max_batch=3, max_seq_len=96, linear_backend="native")
    exact = FastRunner(loaded.model, loaded.adapter, max_batch=3, max_seq_len=96, linear_backend="torch")
    assert (native.linear_backend, exact.linear_backend) == ("native", "torch")
    got, want = _run_steps(native, prompts, 8), _run_steps(exact, prompts, 8)
    for step, (g, w) in enumerate(zip(got, want, strict=True)):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-4, msg=lambda m, s=step: f"step {s}: {m}")
    for layer in range(3):
        torch.testing.assert_close(native.store.keys[layer], exact.store.keys[layer], rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(native.store.values[layer], exact.store.values[layer], rtol=1e-4, atol=1e-5)


def test_torch_backend_decode_is_bit_exact_with_the_hf_forward_of_the_same_step(tiny):
    # The exact path replays HF's own ops: one decode step equals HF's forward with HF's cache, bit for bit.
    from transformers import DynamicCache

    loaded = tiny("qwen3", layers=2)
    model = loaded.model
    runner = FastRunner(model, loaded.adapter, max_batch=1, max_seq_len=32, linear_backend="torch")
    prompt = [7, 11, 13, 17, 19]
    runner.prefill([0], [prompt])
    step = runner.decode([23], [len(prompt)])
    with torch.inference_mode():
        cache = DynamicCache(config=model.config)
        model(torch.tensor([prompt]), past_key_values=cache, use_cache=True)
        ref = model(torch.tensor([[23]]), past_key_values=cache, use_cache=True).logits[0, -1]
    assert torch.equal(step[0], ref)


def test_linear_backend_choice_follows_dtype_and_requests(tiny, monkeypatch):
    from fastprune.errors import FastpruneError
    from fastprune.ops import BackendUnavailableError

    loaded = tiny("llama", layers=1)
    bf16 = loaded.model.to(torch.bfloat16)
    assert FastRunner(bf16, loaded.adapter, 1, 16).linear_backend == "torch"
    with pytest.raises(FastpruneError, match="float32"):
        FastRunner(bf16, loaded.adapter, 1, 16, linear_backend="native")
    monkeypatch.setenv("FASTPRUNE_BACKEND", "torch")
    assert FastRunner(loaded.model.float(), loaded.adapter, 1, 16).linear_backend == "torch"
    with pytest.raises(BackendUnavailableError):
        FastRunner(loaded.model, loaded.adapter, 1, 16, linear_backend="triton")


@needs_native
def test_decode_steps_resolve_no_backend(tiny, monkeypatch):
    from tests.ops.test_plan import forbid_resolution

    loaded = tiny("qwen3", layers=2)
    runner = FastRunner(loaded.model, loaded.adapter, max_batch=2, max_seq_len=32)
    assert (runner.linears.backend, runner.attention.backend) == ("native", "native")
    want = _run_steps(runner, [[5, 9, 200], [42, 8]], 3)
    forbid_resolution(monkeypatch)
    got = _run_steps(runner, [[5, 9, 200], [42, 8]], 3)
    for g, w in zip(got, want, strict=True):
        assert torch.equal(g, w)


@needs_native
def test_q_and_k_norms_with_different_eps_keep_the_decode_step_on_torch(tiny):
    from fastprune.errors import FastpruneError

    loaded = tiny("qwen3", layers=2)
    loaded.model.model.layers[1].self_attn.k_norm.variance_epsilon = 1e-3
    auto = FastRunner(loaded.model, loaded.adapter, 1, 16)
    assert (auto.linear_backend, auto.attention.backend) == ("torch", "torch")
    assert "different eps" in auto.attention.choice.reason
    with pytest.raises(FastpruneError, match="backend='native': the fast runner's decode kernels .* different eps"):
        FastRunner(loaded.model, loaded.adapter, 1, 16, linear_backend="native")
