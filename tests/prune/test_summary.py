"""Dry-run accounting: parameters, FLOPs, KV bytes and ideal speedup of a removal."""

from __future__ import annotations

from fastprune.models import kv_bytes_per_token, model_info
from fastprune.prune.summary import format_summary, pruning_summary


def test_summary_counts_match_model_info(tiny):
    loaded = tiny("phi3", layers=6)
    info = model_info(loaded)
    summary = pruning_summary(loaded.model, [1, 4], "explicit")
    per_layer = info["parameters"]["per_layer"]
    assert summary["parameters_removed"] == per_layer[1] + per_layer[4]
    assert summary["parameters_before"] == info["parameters"]["total"]
    assert summary["forward_flops_per_token_removed"] == 2 * summary["parameters_removed"]
    assert summary["forward_flops_per_token_before"] == 2 * (sum(per_layer) + info["parameters"]["lm_head"])
    assert summary["ideal_speedup_layers"] == 6 / 4
    assert summary["kv_cache_bytes_per_token_removed"] == kv_bytes_per_token(loaded.model.config, loaded.dtype, 2)
    text = format_summary(summary)
    assert "[1, 4]" in text and "6 -> 4" in text and "1.500x" in text


def test_tied_head_is_counted_once(tiny):
    loaded = tiny("llama", layers=4)  # tied embeddings
    summary = pruning_summary(loaded.model, [2], "reverse")
    unique = {id(p): p.numel() for p in loaded.model.parameters()}
    assert summary["parameters_before"] == sum(unique.values())
