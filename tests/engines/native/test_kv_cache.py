"""kv_cache: per-slot writes land at each row's own position; masks follow HF's causal/sliding rules."""

from __future__ import annotations

import pytest
import torch

from fastprune.engines.native.kv_cache import StaticKVCache
from fastprune.errors import FastpruneError
from fastprune.models import tiny_config
from fastprune.models.masks import additive_mask, allowed_mask, layer_windows


def test_decode_writes_each_row_at_its_position_and_prefill_fills_slots():
    cache = StaticKVCache(num_layers=2, max_batch=3, max_seq_len=8)
    k = torch.randn(2, 2, 5, 4)  # two prompts of (padded) length 5 into slots 2 and 0
    cache.write_prefill(1, torch.tensor([2, 0]), k, -k)
    assert torch.equal(cache.keys[1][2, :, :5], k[0]) and torch.equal(cache.values[1][0, :, :5], -k[1])
    assert cache.keys[0] is None  # layers allocate on first use, from the shape they produce

    step = torch.randn(3, 2, 1, 4)
    pos = torch.tensor([5, 2, 7])
    keys, values = cache.write_decode(1, pos, step, step * 2, kv_len=8)
    for r in range(3):
        assert torch.equal(cache.keys[1][r, :, pos[r]], step[r, :, 0])
        assert torch.equal(cache.values[1][r, :, pos[r]], 2 * step[r, :, 0])
    assert keys.shape == (3, 2, 8, 4) and torch.equal(keys[2, :, :5], k[0, :, :5])
    assert torch.equal(cache.keys[1][0, :, :2], k[1, :, :2])  # untouched positions keep their values
    assert cache.memory_bytes() == 2 * 3 * 2 * 8 * 4 * 4


def test_masks_are_causal_per_row_with_hf_sliding_windows():
    q_pos = torch.tensor([[2], [4]])
    allowed = allowed_mask(q_pos, kv_len=6, window=None)
    assert allowed[:, 0, 0].tolist() == [[True] * 3 + [False] * 3, [True] * 5 + [False]]
    window = allowed_mask(q_pos, kv_len=6, window=2)  # HF: key j visible iff j > p - window
    assert window[1, 0, 0].tolist() == [False, False, False, True, True, False]
    add = additive_mask(window, torch.float32)
    assert add[1, 0, 0, 3] == 0 and add[1, 0, 0, 0] == torch.finfo(torch.float32).min


def test_layer_windows_follow_layer_types_and_reject_unsliced_configs():
    assert layer_windows(tiny_config("llama", 3), 3) == [None, None, None]
    assert layer_windows(tiny_config("mistral", 2), 2) == [64, 64]
    assert layer_windows(tiny_config("gemma3", 4), 4) == [32, None, 32, None]
    with pytest.raises(FastpruneError, match="layer_types has 4 entries"):
        layer_windows(tiny_config("gemma3", 4), 3)
