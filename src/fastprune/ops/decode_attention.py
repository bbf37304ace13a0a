"""``decode_attention``: one decode step's attention for every row of a batch, straight on a static KV cache.

Per row r at position p_r (its own; rows need not agree): optional RMSNorm of each q and k head (Qwen3's
``q_norm`` / ``k_norm``), rotary embedding from precomputed tables, the new k and v stored at cache index
p_r of slot r, then ``softmax(q k^T * scale) v`` over the keys the row may see (positions <= p_r, or the
last ``window`` of them). Grouped-query heads share their kv head.

In torch that is a dozen small ops per layer plus SDPA, whose fixed cost dominates at one query per row;
the native CPU kernel does it in one call. Backends: ``torch`` (the reference, :func:`decode_attention_ref`)
and ``native`` (CPU, float32); ``auto`` takes native when it can run. Both write the cache in place.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fastprune.errors import FastpruneError

from . import native
from .availability import BackendUnavailableError
from .dispatch import requested_backend, resolve_backend

IMPLEMENTED_BACKENDS = ("torch", "native")


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin_signed: torch.Tensor) -> torch.Tensor:
    # rotate_half(x) * sin == roll(x, d/2) * [-sin1, sin2]: the tables carry the sign.
    return x * cos + x.roll(x.shape[-1] // 2, dims=-1) * sin_signed


def decode_attention_ref(q, k_new, v_new, k_cache, v_cache, positions, cos_table, sin_table, scale: float,
                         window: int | None = None, q_norm=None, k_norm=None) -> torch.Tensor:
    b, heads, d = q.shape
    if b == 0:
        return q.new_empty((0, heads, d))
    if q_norm is not None:
        q = torch.rms_norm(q, (d,), q_norm[0], float(q_norm[1]))
    if k_norm is not None:
        k_new = torch.rms_norm(k_new, (d,), k_norm[0], float(k_norm[1]))
    cos, sin = cos_table[positions][:, None], sin_table[positions][:, None]
    q, k_new = _rotate(q, cos, sin), _rotate(k_new, cos, sin)
    rows = torch.arange(b, device=q.device)
    k_cache[rows, :, positions] = k_new.to(k_cache.dtype)
    v_cache[rows, :, positions] = v_new.to(v_cache.dtype)
    kv_len = int(positions.max()) + 1
    kv = torch.arange(kv_len, device=q.device)
    allowed = kv <= positions[:, None]
    if window is not None:
        allowed &= kv > positions[:, None] - window
    out = F.scaled_dot_product_attention(q[:, :, None], k_cache[:b, :, :kv_len], v_cache[:b, :, :kv_len],
                                         attn_mask=allowed[:, None, None], scale=scale,
                                         enable_gqa=heads != k_new.shape[1])
    return out[:, :, 0]


def _check(q, k_new, v_new, k_cache, v_cache, positions, cos_table, sin_table, window):
    if window is not None and window < 1:
        raise FastpruneError(f"decode_attention: window must be None (unlimited) or >= 1, got {window}")
    if q.dim() != 3 or k_new.dim() != 3 or v_new.shape != k_new.shape:
        raise FastpruneError(f"decode_attention: q must be [b, heads, d] and k_new, v_new [b, kv_heads, d]; got "
                             f"{tuple(q.shape)}, {tuple(k_new.shape)}, {tuple(v_new.shape)}")
    b, heads, d = q.shape
    kv_heads = k_new.shape[1]
    if k_new.shape[0] != b or k_new.shape[2] != d or heads % kv_heads != 0:
        raise FastpruneError(f"decode_attention: q {tuple(q.shape)} and k {tuple(k_new.shape)} do not fit "
                             f"(same rows and head size, heads a multiple of kv_heads)")
    if k_cache.dim() != 4 or k_cache.shape != v_cache.shape or k_cache.shape[0] < b \
            or k_cache.shape[1] != kv_heads or k_cache.shape[3] != d:
        raise FastpruneError(f"decode_attention: caches must be [>= {b}, {kv_heads}, len, {d}], got "
                             f"{tuple(k_cache.shape)} and {tuple(v_cache.shape)}")
    if positions.shape != (b,) or positions.dtype != torch.long:
        raise FastpruneError(f"decode_attention: positions must be int64 [{b}], got {positions.dtype} "
                             f"{tuple(positions.shape)}")
    if cos_table.shape != sin_table.shape or cos_table.dim() != 2 or cos_table.shape[1] != d:
        raise FastpruneError(f"decode_attention: rotary tables must be [len, {d}], got {tuple(cos_table.shape)}")
    if b and (int(positions.min()) < 0 or int(positions.max()) >= min(k_cache.shape[2], cos_table.shape[0])):
        raise FastpruneError(f"decode_attention: positions {positions.tolist()} fall outside the cache "
                             f"(length {k_cache.shape[2]}) or the rotary tables ({cos_table.shape[0]})")


def native_eligible(q, k_cache, *tensors) -> str | None:
    if q.device.type != "cpu":
        return f"q is on {q.device}, the native decode attention is CPU-only"
    for t in (q, k_cache, *tensors):
        if t is not None and t.dtype != torch.float32:
            return f"dtype {t.dtype}: the native decode attention is float32-only"
    return None


def _heads_view(t: torch.Tensor) -> torch.Tensor:
    """``t [b, h, d]`` with unit stride along d and heads packed (stride d), copying only when needed."""
    return t if t.stride(2) == 1 and t.stride(1) == t.shape[2] else t.contiguous()


def decode_attention_native(q, k_new, v_new, k_cache, v_cache, positions, cos_table, sin_table, scale: float,
                            window: int | None = None, q_norm=None, k_norm=None) -> torch.Tensor:
    """The native kernel without dispatch or shape checks (the decode loop checks once)."""
    module = native.require("cpu")
    q, k_new, v_new = _heads_view(q), _heads_view(k_new), _heads_view(v_new)
    if not (k_cache.is_contiguous() and v_cache.is_contiguous()):
        raise FastpruneError("decode_attention: the native kernel writes the caches in place; they must be "
                             "contiguous")
    positions = positions.contiguous()
    cos_table, sin_table = cos_table.contiguous(), sin_table.contiguous()
    b, heads, d = q.shape
    out = torch.empty((b, heads, d), dtype=torch.float32)
    qn = q_norm[0].contiguous() if q_norm is not None else None
    kn = k_norm[0].contiguous() if k_norm is not None else None
    eps = float((q_norm or k_norm)[1]) if (q_norm or k_norm) is not None else 0.0
    module.decode_attention(
        q.data_ptr(), q.stride(0), k_new.data_ptr(), k_new.stride(0), v_new.data_ptr(), v_new.stride(0),
        cos_table.data_ptr(), sin_table.data_ptr(), qn.data_ptr() if qn is not None else 0,
        kn.data_ptr() if kn is not None else 0, eps, k_cache.data_ptr(), v_cache.data_ptr(), k_cache.shape[2],
        positions.data_ptr(), b, heads, k_new.shape[1], d, int(window) if window is not None else 0, float(scale),
        out.data_ptr(), heads * d, torch.get_num_threads(),
    )
    return out


def decode_attention(q, k_new, v_new, k_cache, v_cache, positions, cos_table, sin_table, scale: float,
                     window: int | None = None, q_norm=None, k_norm=None, backend: str | None = None):
    """Attention of ``q [b, heads, d]`` over cache slots ``0..b-1`` after storing ``k_new, v_new [b, kv_heads, d]``.

    ``positions [b]`` (int64): each row's position. ``cos_table, sin_table [len, d]``: rotary tables with
    the first half of ``sin`` negated. ``q_norm, k_norm``: ``(weight [d], eps)`` or None; the native kernel
    uses one eps for both. Returns ``[b, heads, d]``.
    """
    _check(q, k_new, v_new, k_cache, v_cache, positions, cos_table, sin_table, window)
    if q_norm is not None and k_norm is not None and float(q_norm[1]) != float(k_norm[1]):
        backend_name = "torch"
    else:
        backend_name = resolve_backend(q.device, backend, op="decode_attention", implemented=IMPLEMENTED_BACKENDS)
    if backend_name == "native":
        norms = [n[0] for n in (q_norm, k_norm) if n is not None]
        reason = native_eligible(q, k_cache, k_new, v_new, v_cache, cos_table, sin_table, *norms)
        if reason is None and not (k_cache.is_contiguous() and v_cache.is_contiguous()):
            reason = "the caches are not contiguous"
        if reason is not None:
            requested, source = requested_backend(backend)
            if requested != "auto":
                raise BackendUnavailableError(f"{source} requested for decode_attention but {reason}")
            backend_name = "torch"
    if backend_name == "torch":
        return decode_attention_ref(q, k_new, v_new, k_cache, v_cache, positions, cos_table, sin_table, scale,
                                    window, q_norm, k_norm)
    return decode_attention_native(q, k_new, v_new, k_cache, v_cache, positions, cos_table, sin_table, scale,
                                   window, q_norm, k_norm)
