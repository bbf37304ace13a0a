"""A static KV cache with one slot per batch row (its masks: ``fastprune.models.masks``).

Each layer gets ``K, V: [max_batch, kv_heads, max_seq_len, head_dim]``, allocated on the first write from
the shape the layer actually produces, so the cache follows whatever layer count (pruned or not) and head
layout the model has. Slot ``s`` holds one sequence whose token at position ``p`` lives at index ``p``:
positions equal cache indices, which is what lets every row of a decode step sit at its own position
(continuous batching) without shifting anything.
"""

from __future__ import annotations

import torch


class StaticKVCache:
    def __init__(self, num_layers: int, max_batch: int, max_seq_len: int):
        self.num_layers = num_layers
        self.max_batch = max_batch
        self.max_seq_len = max_seq_len
        self.keys: list[torch.Tensor | None] = [None] * num_layers
        self.values: list[torch.Tensor | None] = [None] * num_layers

    def buffers(self, layer: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The (K, V) buffers of ``layer``, allocated to match ``like [b, kv_heads, q, head_dim]``."""
        k = self.keys[layer]
        if k is None or k.shape[1] != like.shape[1] or k.shape[3] != like.shape[3] or k.dtype != like.dtype \
                or k.device != like.device:
            shape = (self.max_batch, like.shape[1], self.max_seq_len, like.shape[3])
            self.keys[layer] = torch.zeros(shape, dtype=like.dtype, device=like.device)
            self.values[layer] = torch.zeros(shape, dtype=like.dtype, device=like.device)
        return self.keys[layer], self.values[layer]

    def write_prefill(self, layer: int, slots: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
        """Store a right-padded prompt block ``k, v [n, kv_heads, q, head_dim]`` at positions ``0..q-1``."""
        kb, vb = self.buffers(layer, k)
        q = k.shape[2]
        kb[slots, :, :q] = k
        vb[slots, :, :q] = v

    def decode_index(self, positions: torch.Tensor, kv_heads: int) -> torch.Tensor:
        """Flat row indices of ``(row r, head h, position p_r)`` in a ``[max_batch * kv_heads * max_seq_len, d]``
        view of a layer's buffer; built once per step and shared by every layer with ``kv_heads`` heads."""
        b = positions.shape[0]
        rows = torch.arange(b, device=positions.device)[:, None] * kv_heads
        heads = torch.arange(kv_heads, device=positions.device)[None, :]
        return ((rows + heads) * self.max_seq_len + positions[:, None]).reshape(-1)

    def write_decode(self, layer: int, positions: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                     kv_len: int, index: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Store one token per row (rows ``0..b-1``) at its own position; return the ``[:b, :, :kv_len]`` views.

        ``index`` (from ``decode_index``) lets a step compute the scatter positions once for all layers;
        one ``index_copy_`` per buffer is several times cheaper than advanced-index assignment.
        """
        kb, vb = self.buffers(layer, k)
        b, h, _, d = k.shape
        if index is None:
            index = self.decode_index(positions, h)
        kb.view(-1, d).index_copy_(0, index, k.reshape(b * h, d))
        vb.view(-1, d).index_copy_(0, index, v.reshape(b * h, d))
        return kb[:b, :, :kv_len], vb[:b, :, :kv_len]

    def memory_bytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.keys + self.values if t is not None)
