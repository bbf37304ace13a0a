"""Attention windows and masks: which key each query may see, for the engine's cache and for training.

One rule everywhere: a query at position ``p`` sees keys ``j <= p`` and, in a sliding-window layer,
``j > p - window`` (HF's convention). Which layers slide follows the model's config.
"""

from __future__ import annotations

import torch

from fastprune.errors import FastpruneError


def layer_windows(config, num_layers: int) -> list[int | None]:
    """Sliding-window size of each layer (None = full attention), following HF's masking rules.

    Families with ``layer_types`` (Qwen2/3, Gemma2/3) window only their ``sliding_attention`` layers; the
    others (Mistral, Phi3) window every layer when ``sliding_window`` is set.
    """
    window = getattr(config, "sliding_window", None)
    types = getattr(config, "layer_types", None)
    if types is not None:
        if len(types) != num_layers:
            raise FastpruneError(
                f"config.layer_types has {len(types)} entries but the model has {num_layers} layers; a pruned "
                f"checkpoint must slice per-layer config fields with its layers (re-run fastprune prune)"
            )
        return [window if t == "sliding_attention" else None for t in types]
    return [window] * num_layers


def sliding_windows(config) -> dict[str, int | None]:
    """Attention kind -> window for the model's layers (``None`` = full causal attention)."""
    window = getattr(config, "sliding_window", None)
    types = getattr(config, "layer_types", None)
    if types:
        return {t: (window if t == "sliding_attention" else None) for t in set(types)}
    if window and getattr(config, "use_sliding_window", True):
        return {"sliding_attention": window}
    return {"full_attention": None}


def allowed_mask(q_pos: torch.Tensor, kv_len: int, window: int | None) -> torch.Tensor:
    """Bool ``[b, 1, q, kv_len]``: query at position ``p`` sees keys ``j <= p`` (and ``j > p - window``).

    Padding needs no extra term: padded queries sit at positions past their prompt, so real queries
    never see them, and whatever padded rows compute is never read.
    """
    kv = torch.arange(kv_len, device=q_pos.device)
    pos = q_pos[:, None, :, None]
    allowed = kv <= pos
    if window is not None:
        allowed &= kv > pos - window
    return allowed


def additive_mask(allowed: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Additive float mask (0 / dtype-min) that both eager and SDPA attention accept as a 4-D mask."""
    return torch.zeros(allowed.shape, dtype=dtype, device=allowed.device).masked_fill_(
        ~allowed, torch.finfo(dtype).min)


def document_mask(doc_lengths: list[list[int]], width: int, dtype: torch.dtype,
                  window: int | None = None) -> torch.Tensor:
    """Additive ``[B, 1, width, width]`` mask for packed rows: 0 where query t may see key s (same document
    and ``allowed_mask``'s causal/window rule), the dtype's minimum elsewhere. Padding tokens form one-token
    documents so no softmax row is empty (an all-masked row gives NaN, and NaN poisons gradients even at
    weight 0)."""
    batch = len(doc_lengths)
    doc = torch.empty(batch, width, dtype=torch.long)
    for row, lengths in enumerate(doc_lengths):
        ids = torch.repeat_interleave(torch.arange(len(lengths)), torch.tensor(lengths, dtype=torch.long))
        used = ids.numel()
        doc[row, :used] = ids
        doc[row, used:] = torch.arange(len(lengths), len(lengths) + width - used)
    causal = allowed_mask(torch.arange(width).expand(batch, width), width, window)
    return additive_mask(causal & (doc[:, :, None] == doc[:, None, :])[:, None], dtype)
