"""runner_hf: the HF forward on the slot cache equals a plain HF forward, sliding windows included."""

from __future__ import annotations

import pytest
import torch

from fastprune.engines.native.runner_hf import HFRunner


@pytest.mark.parametrize("family", ["gemma2", "phi3"])
def test_prefill_then_decode_logits_equal_plain_forward(tiny, family):
    loaded = tiny(family, layers=2)
    model = loaded.model
    runner = HFRunner(model, loaded.adapter, max_batch=3, max_seq_len=64)
    g = torch.Generator().manual_seed(0)
    a = torch.randint(0, 256, (40,), generator=g).tolist()  # longer than gemma2's 32-token window
    b = [7, 8, 9]
    logits = runner.prefill([2, 1], [a, b])
    step = runner.decode([0, 50, 60], [0, len(b), len(a)])  # row 0 is an idle slot
    with torch.inference_mode():
        ref = [model(torch.tensor([s])).logits[0, -1] for s in (a, b, b + [50], a + [60])]
    for got, want in zip([logits[0], logits[1], step[1], step[2]], ref, strict=True):
        torch.testing.assert_close(got, want.float(), rtol=1e-5, atol=1e-5)
