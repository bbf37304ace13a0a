"""Model fingerprints: stable across dtype and copies, different across weights; mismatch reporting."""

from __future__ import annotations

import copy

import torch

from fastprune.models.fingerprint import _SAMPLES_PER_TENSOR, _sample, fingerprint_mismatches, model_fingerprint


def test_fingerprint_identity_and_dtype_stability(tiny):
    loaded = tiny("gemma2", layers=4)
    fp = model_fingerprint(loaded)
    assert fp == model_fingerprint(loaded.model)
    assert fp["num_layers"] == 4 and fp["hidden_size"] == 64 and fp["vocab_size"] == 320
    assert fp["architecture"] == "Gemma2ForCausalLM" and len(fp["weights_sha256"]) == 16
    as_bf16 = copy.deepcopy(loaded.model).to(torch.bfloat16)
    assert model_fingerprint(as_bf16) == fp


def test_fingerprint_changes_with_weights(tiny):
    a = tiny("llama", layers=4, seed=0)
    b = tiny("llama", layers=4, seed=1)
    assert model_fingerprint(a)["weights_sha256"] != model_fingerprint(b)["weights_sha256"]
    before = model_fingerprint(a)["weights_sha256"]
    with torch.no_grad():
        a.model.model.layers[3].mlp.down_proj.weight.add_(0.05)  # what finetuning changes: a big matrix
    assert model_fingerprint(a)["weights_sha256"] != before


def test_mismatches_compare_only_shared_keys():
    current = {"version": 1, "architecture": "A", "num_layers": 4, "weights_sha256": "x"}
    assert fingerprint_mismatches({"architecture": "A"}, current) == []
    assert fingerprint_mismatches({"num_layers": 5}, current) == ["num_layers: file has 5, model has 4"]
    # A hash from another fingerprint version is not comparable and is skipped.
    assert fingerprint_mismatches({"version": 0, "weights_sha256": "y"}, current) == []
    assert fingerprint_mismatches({"version": 1, "weights_sha256": "y"}, current) != []


def test_sampling_large_tensors_stays_in_bounds():
    # Past 2^24 elements float32 index arithmetic rounds past the end; the last element must be sampled.
    n = (1 << 24) + 3
    values = torch.zeros(n, dtype=torch.bfloat16)
    values[-1] = 7.0
    sample = torch.frombuffer(bytearray(_sample(values)), dtype=torch.float32)
    assert sample.numel() == _SAMPLES_PER_TENSOR and sample[-1] == 7.0 and sample[:-1].abs().sum() == 0
