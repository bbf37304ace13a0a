"""``decode_attention``: one decode step's attention for every row of a batch, straight on a static KV cache.

Per row r at position p_r (its own; rows need not agree): optional RMSNorm of each q and k head (Qwen3's
``q_norm`` / ``k_norm``), rotary embedding from precomputed tables, the new k and v stored at cache index
p_r of slot r, then ``softmax(q k^T * scale) v`` over the keys the row may see (positions <= p_r, or the
last ``window`` of them). Grouped-query heads share their kv head.

In torch that is a dozen small ops per layer plus SDPA, whose fixed cost dominates at one query per row;
the native CPU kernel does it in one call. Backends: ``torch`` (the reference, :func:`decode_attention_ref`)
and ``native`` (CPU, float32); ``auto`` takes native when it can run. Both write the cache in place.
A decode loop resolves the backend once with :func:`decode_attention_plan` and calls the plan per step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fastprune.errors import FastpruneError

from ._decode_attention_ops import decode_attention_cpu
from .dispatch import requested_backend
from .plan import Choice, OpPlan, choose

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


def native_eligible(device: torch.device | str, dtypes) -> str | None:
    """None when the native kernel can take tensors on ``device`` with ``dtypes``; else why not."""
    if torch.device(device).type != "cpu":
        return f"q is on {device}, the native decode attention is CPU-only"
    for dtype in dtypes:
        if dtype != torch.float32:
            return f"dtype {dtype}: the native decode attention is float32-only"
    return None


def decode_attention_native(q, k_new, v_new, k_cache, v_cache, positions, cos_table, sin_table, scale: float,
                            window: int | None = None, q_norm=None, k_norm=None) -> torch.Tensor:
    """The native kernel without dispatch or shape checks (the decode loop checks once)."""
    if not (k_cache.is_contiguous() and v_cache.is_contiguous()):
        raise FastpruneError("decode_attention: the native kernel writes the caches in place; they must be "
                             "contiguous")
    eps = float((q_norm or k_norm)[1]) if (q_norm or k_norm) is not None else 0.0
    return decode_attention_cpu(q, k_new, v_new, k_cache, v_cache, positions, cos_table, sin_table, float(scale),
                                int(window) if window is not None else 0, q_norm[0] if q_norm is not None else None,
                                k_norm[0] if k_norm is not None else None, eps)


class DecodeAttentionPlan(OpPlan):
    """``decode_attention`` with its backend chosen; called with its arguments (less ``backend``), unchecked."""

    def __call__(self, q, k_new, v_new, k_cache, v_cache, positions, cos_table, sin_table, scale: float,
                 window: int | None = None, q_norm=None, k_norm=None) -> torch.Tensor:
        impl = decode_attention_native if self.backend == "native" else decode_attention_ref
        return impl(q, k_new, v_new, k_cache, v_cache, positions, cos_table, sin_table, scale, window, q_norm, k_norm)


def decode_attention_plan(device: torch.device | str, dtypes=(torch.float32,), backend: str | None = None, *,
                          norm_eps=(), caches_contiguous: bool = True) -> DecodeAttentionPlan:
    """The plan for calls on ``device`` whose tensors (q, k, v, caches, tables, norm weights) have ``dtypes``.

    ``norm_eps``: the ``(q_norm eps, k_norm eps)`` of every call that passes both norms (one per layer). The
    native kernel takes one eps for both, so a pair that differs sends every call to torch, quietly even
    when native was asked for (the answer stays the reference's). ``caches_contiguous``: the native kernel
    writes the caches in place and needs them dense.
    """
    if any(float(q_eps) != float(k_eps) for q_eps, k_eps in norm_eps):
        requested, source = requested_backend(backend)
        return DecodeAttentionPlan(Choice("decode_attention", "torch", requested, source,
                                          "q_norm and k_norm use different eps (the native attention takes one)"))

    def ineligible(name: str) -> str | None:
        reason = native_eligible(device, dtypes)
        return reason if reason is not None or caches_contiguous else "the caches are not contiguous"

    return DecodeAttentionPlan(choose("decode_attention", device, backend, implemented=IMPLEMENTED_BACKENDS,
                                      ineligible=ineligible))


def decode_attention(q, k_new, v_new, k_cache, v_cache, positions, cos_table, sin_table, scale: float,
                     window: int | None = None, q_norm=None, k_norm=None, backend: str | None = None):
    """Attention of ``q [b, heads, d]`` over cache slots ``0..b-1`` after storing ``k_new, v_new [b, kv_heads, d]``.

    ``positions [b]`` (int64): each row's position. ``cos_table, sin_table [len, d]``: rotary tables with
    the first half of ``sin`` negated. ``q_norm, k_norm``: ``(weight [d], eps)`` or None; the native kernel
    uses one eps for both. Returns ``[b, heads, d]``.
    """
    _check(q, k_new, v_new, k_cache, v_cache, positions, cos_table, sin_table, window)
    norms = [n for n in (q_norm, k_norm) if n is not None]
    plan = decode_attention_plan(
        q.device, [t.dtype for t in (q, k_cache, k_new, v_new, v_cache, cos_table, sin_table, *(n[0] for n in norms))],
        backend, norm_eps=[(q_norm[1], k_norm[1])] if len(norms) == 2 else (),
        caches_contiguous=k_cache.is_contiguous() and v_cache.is_contiguous())
    return plan(q, k_new, v_new, k_cache, v_cache, positions, cos_table, sin_table, scale, window, q_norm, k_norm)
