"""runner_fast: which models take the direct decoder, and its logits equal HF's forward."""

from __future__ import annotations

import pytest
import torch

from fastprune.generate.runner_fast import FastRunner, fast_path_reason


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
