"""The speedups depth reduction can buy at best, from layer counts and from bytes moved.

Decoding is bound by reading the weights once per step, so the byte model
S* = (L*b_layer + b_rest) / ((L-n)*b_layer + b_rest) is what a user should expect at small batch:
the embeddings, LM head and norms (b_rest) are read whatever the depth. The layer-count ideal L/(L-n)
ignores them and is only approached when b_rest is small next to the layers (large models).
"""

from __future__ import annotations

import torch

from fastprune.models import kv_bytes_per_token


def layer_ideal(base_layers: int, layers: int) -> float:
    return base_layers / layers


def byte_ideal(base_bytes: int, bytes_: int) -> float:
    """S* between two models given the weight bytes each reads per decode step."""
    return base_bytes / bytes_


def byte_ideal_from_layers(b_layer: float, b_rest: float, base_layers: int, layers: int) -> float:
    return (base_layers * b_layer + b_rest) / (layers * b_layer + b_rest)


def ideals(base_info: dict, info: dict, config, dtype: torch.dtype) -> dict:
    """Both ideals of ``info``'s model against ``base_info``'s, and the KV-cache bytes per token saved."""
    base_kv = kv_bytes_per_token(config, dtype, base_info["num_layers"])
    kv = kv_bytes_per_token(config, dtype, info["num_layers"])
    return {
        "layers_removed": base_info["num_layers"] - info["num_layers"],
        "ideal_layers": layer_ideal(base_info["num_layers"], info["num_layers"]),
        "ideal_bytes": byte_ideal(base_info["bytes"]["read_per_step"], info["bytes"]["read_per_step"]),
        "kv_bytes_per_token": kv,
        "kv_bytes_per_token_saved": base_kv - kv,
    }
