"""General model runner: the model's own HF forward, fed a slot-aware static cache and explicit masks.

It works for any decoder-only family whose attention goes through ``past_key_values.update`` (every family
``fastprune`` loads). The per-slot cache and 4-D masks are ours, so each row can sit at its own position,
which HF's ``StaticCache`` (one shared ``cache_position`` per batch) cannot express.
"""

from __future__ import annotations

import torch

from fastprune.data.batching import pad_batch
from fastprune.engines.native.kv_cache import StaticKVCache
from fastprune.models.masks import additive_mask, allowed_mask, layer_windows


class _SlotCache:
    """The object HF attention layers call ``update`` on; routes writes into ``StaticKVCache`` slots."""

    is_compileable = False

    def __init__(self, store: StaticKVCache):
        self.store = store
        self.is_sliding = [False] * store.num_layers
        self.mode = "prefill"
        self.slots: torch.Tensor | None = None
        self.positions: torch.Tensor | None = None
        self.kv_len = 0

    def update(self, key_states, value_states, layer_idx, *args, **kwargs):
        if self.mode == "prefill":
            # A fresh prompt attends only to itself: use the block just computed, no read-back needed.
            self.store.write_prefill(layer_idx, self.slots, key_states, value_states)
            return key_states, value_states
        return self.store.write_decode(layer_idx, self.positions, key_states, value_states, self.kv_len)

    def get_seq_length(self, layer_idx: int = 0) -> int:
        return self.kv_len

    def __len__(self) -> int:
        return self.store.num_layers


class HFRunner:
    """Prefill and decode through ``model.forward`` with a ``StaticKVCache``."""

    name = "hf"

    def __init__(self, model, adapter, max_batch: int, max_seq_len: int):
        self.model = model
        self.config = adapter.text_config
        self.store = StaticKVCache(adapter.num_layers, max_batch, max_seq_len)
        self.cache = _SlotCache(self.store)
        windows = layer_windows(self.config, adapter.num_layers)
        types = getattr(self.config, "layer_types", None)
        # Families with layer_types take a {layer_type: mask} dict; the others one mask for all layers.
        self.mask_windows = (
            {t: w for t, w in zip(types, windows, strict=True)} if types is not None else {None: windows[0]}
        )
        self.dtype = next(model.parameters()).dtype

    def _masks(self, q_pos: torch.Tensor, kv_len: int):
        masks = {t: additive_mask(allowed_mask(q_pos, kv_len, w), self.dtype) for t, w in self.mask_windows.items()}
        return masks.get(None, masks)

    @torch.inference_mode()
    def prefill(self, slots: list[int], prompts: list[list[int]]) -> torch.Tensor:
        """Run right-padded prompts into ``slots``; return fp32 logits of each prompt's last token [n, V]."""
        device = next(self.model.parameters()).device
        n, q = len(prompts), max(len(p) for p in prompts)
        ids = pad_batch(prompts, 0)[0].to(device)
        pos = torch.arange(q, device=device).expand(n, q)
        last = torch.tensor([len(p) - 1 for p in prompts], device=device)
        keep, where = torch.unique(last, return_inverse=True)
        self.cache.mode, self.cache.slots, self.cache.kv_len = "prefill", torch.tensor(slots, device=device), q
        out = self.model(input_ids=ids, position_ids=pos, attention_mask=self._masks(pos, q),
                         past_key_values=self.cache, use_cache=True, logits_to_keep=keep)
        return out.logits[torch.arange(n, device=device), where].float()

    @torch.inference_mode()
    def decode(self, tokens: list[int], positions: list[int]) -> torch.Tensor:
        """One token for each of rows ``0..b-1`` at its own position; return fp32 logits [b, V]."""
        device = next(self.model.parameters()).device
        kv_len = max(positions) + 1
        pos = torch.tensor(positions, device=device)
        self.cache.mode, self.cache.positions, self.cache.kv_len = "decode", pos, kv_len
        ids = torch.tensor(tokens, device=device)[:, None]
        out = self.model(input_ids=ids, position_ids=pos[:, None], attention_mask=self._masks(pos[:, None], kv_len),
                         past_key_values=self.cache, use_cache=True)
        return out.logits[:, -1].float()
