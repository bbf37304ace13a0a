"""The native decode attention registered as a ``torch.library`` custom op (semantics in :mod:`.decode_attention`).

``fastprune::decode_attention_cpu(q [b, heads, d], k_new, v_new [b, kv_heads, d], k_cache, v_cache
[>= b, kv_heads, len, d], positions [b], cos_table, sin_table [len', d], scale, window, q_norm, k_norm,
norm_eps)`` writes row r's new key and value into slot r of the caches (declared as mutated) and returns the
float32 attention output ``[b, heads, d]``. ``window`` 0 means unlimited; ``q_norm`` / ``k_norm`` are the
RMSNorm weights or None, sharing ``norm_eps``. Callers have checked shapes, float32 and CPU placement; the
caches must be contiguous. The body loads the native module on first call.
"""

from __future__ import annotations

import torch

from . import native
from .plan import eager_or_op


def _heads_view(t: torch.Tensor) -> torch.Tensor:
    """``t [b, h, d]`` with unit stride along d and heads packed (stride d), copying only when needed."""
    return t if t.stride(2) == 1 and t.stride(1) == t.shape[2] else t.contiguous()


def decode_attention_cpu_body(q: torch.Tensor, k_new: torch.Tensor, v_new: torch.Tensor, k_cache: torch.Tensor,
                              v_cache: torch.Tensor, positions: torch.Tensor, cos_table: torch.Tensor,
                              sin_table: torch.Tensor, scale: float, window: int, q_norm: torch.Tensor | None,
                              k_norm: torch.Tensor | None, norm_eps: float) -> torch.Tensor:
    module = native.require("cpu")
    q, k_new, v_new = _heads_view(q), _heads_view(k_new), _heads_view(v_new)
    positions = positions.contiguous()
    cos_table, sin_table = cos_table.contiguous(), sin_table.contiguous()
    b, heads, d = q.shape
    out = torch.empty((b, heads, d), dtype=torch.float32)
    qn = q_norm.contiguous() if q_norm is not None else None
    kn = k_norm.contiguous() if k_norm is not None else None
    module.decode_attention(
        q.data_ptr(), q.stride(0), k_new.data_ptr(), k_new.stride(0), v_new.data_ptr(), v_new.stride(0),
        cos_table.data_ptr(), sin_table.data_ptr(), qn.data_ptr() if qn is not None else 0,
        kn.data_ptr() if kn is not None else 0, norm_eps, k_cache.data_ptr(), v_cache.data_ptr(), k_cache.shape[2],
        positions.data_ptr(), b, heads, k_new.shape[1], d, window, scale, out.data_ptr(), heads * d,
        torch.get_num_threads(),
    )
    return out


decode_attention_cpu_op = torch.library.custom_op(
    "fastprune::decode_attention_cpu", decode_attention_cpu_body, mutates_args=("k_cache", "v_cache"),
    device_types="cpu")


@decode_attention_cpu_op.register_fake
def _(q, k_new, v_new, k_cache, v_cache, positions, cos_table, sin_table, scale, window, q_norm, k_norm, norm_eps):
    return q.new_empty(q.shape, dtype=torch.float32)


decode_attention_cpu = eager_or_op(decode_attention_cpu_body, decode_attention_cpu_op)
