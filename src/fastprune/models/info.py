"""Parameter and byte accounting of a model, per layer: what pruning a layer removes."""

from __future__ import annotations

import torch

from fastprune.models.loader import LoadedModel


def _bytes(params) -> int:
    return sum(p.numel() * p.element_size() for p in params)


def model_info(loaded: LoadedModel) -> dict:
    """Architecture, layer count, parameter counts (total, per layer, embeddings, LM head) and bytes."""
    adapter = loaded.adapter
    model = loaded.model
    unique = {id(p): p for p in model.parameters()}
    layer_params = [list(layer.parameters()) for layer in adapter.layers]
    embed = adapter.embeddings().weight
    head = adapter.lm_head()
    tied = adapter.tied_embeddings()
    text_cfg = adapter.text_config
    per_layer_counts = [sum(p.numel() for p in ps) for ps in layer_params]
    per_layer_bytes = [_bytes(ps) for ps in layer_params]
    total_bytes = _bytes(unique.values())
    embed_bytes = embed.numel() * embed.element_size()
    head_bytes = head.weight.numel() * head.weight.element_size() if head is not None else 0
    # A decode step reads every layer, the norms and the LM head, but only a few rows of an untied
    # input embedding table: those rows are not part of the per-step bytes.
    read_per_step = total_bytes - (0 if tied else embed_bytes)
    return {
        "model": loaded.name,
        "architecture": adapter.architecture,
        "model_type": getattr(text_cfg, "model_type", None),
        "num_layers": adapter.num_layers,
        "hidden_size": getattr(text_cfg, "hidden_size", None),
        "vocab_size": getattr(text_cfg, "vocab_size", None),
        "dtype": str(loaded.dtype).replace("torch.", ""),
        "parameters": {
            "total": sum(p.numel() for p in unique.values()),
            "per_layer": per_layer_counts,
            "layers_total": sum(per_layer_counts),
            "embeddings": embed.numel(),
            "lm_head": head.weight.numel() if head is not None else 0,
            "lm_head_tied": tied,
        },
        "bytes": {
            "total": total_bytes,
            "per_layer": per_layer_bytes,
            "rest": total_bytes - sum(per_layer_bytes),
            "embeddings": embed_bytes,
            "lm_head": head_bytes,
            "read_per_step": read_per_step,
        },
        "per_layer_config_fields": adapter.per_layer_config_fields(),
    }


def kv_bytes_per_token(config, dtype: torch.dtype, num_layers: int | None = None) -> int:
    """KV-cache bytes one token costs across ``num_layers`` layers (default: the config's count)."""
    cfg = config.get_text_config() if hasattr(config, "get_text_config") else config
    layers = num_layers if num_layers is not None else cfg.num_hidden_layers
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    kv_heads = getattr(cfg, "num_key_value_heads", None) or cfg.num_attention_heads
    return 2 * layers * kv_heads * head_dim * torch.empty((), dtype=dtype).element_size()
