"""Direct decoder for Llama-like families (Llama, Mistral, Qwen2, Qwen3): the model's weights, our loop.

It reads the HF modules' own parameter tensors (no copies) but replaces the per-step machinery around
them: no module calls or kwargs plumbing, fused RMSNorm, rotary tables precomputed for every position,
one mask per window size per step, and SDPA straight on the static cache. At batch 1 on a CPU that
machinery is a large share of a step; the weights themselves are the floor.

Every rewrite is bit-for-bit the HF computation in float32 (checked by the greedy-parity tests):
``torch.rms_norm`` equals HF's RMSNorm, and ``rotate_half(x) * sin == roll(x, d/2) * [-sin1, sin2]``
exactly, because negation commutes with rounding. Any family that does not match the expected layer
shape takes the general HF runner instead.
"""

from __future__ import annotations

import sys
from typing import NamedTuple

import torch
import torch.nn.functional as F

from fastprune.generate.kv_cache import StaticKVCache, allowed_mask, layer_windows

_FAMILIES = ("llama", "mistral", "qwen2", "qwen3")
_LAYER_PARTS = ("self_attn", "mlp", "input_layernorm", "post_attention_layernorm")
_ATTN_PARTS = ("q_proj", "k_proj", "v_proj", "o_proj", "scaling", "head_dim")
_MLP_PARTS = ("gate_proj", "up_proj", "down_proj", "act_fn")


def fast_path_reason(model, adapter) -> str | None:
    """None when the direct decoder can run ``model``; otherwise why not (shown when it was asked for)."""
    cfg = adapter.text_config
    if cfg.model_type not in _FAMILIES:
        return f"model_type {cfg.model_type!r} is not one of {', '.join(_FAMILIES)}"
    inner = getattr(model, "model", None)
    if getattr(inner, "rotary_emb", None) is None or adapter.final_norm is None or adapter.lm_head() is None:
        return "the model has no rotary_emb / final norm / lm_head where Llama-like models keep them"
    if getattr(cfg, "hidden_act", "silu") not in ("silu", "swish"):
        return f"hidden_act {cfg.hidden_act!r} is not silu"
    # The roll rewrite of the rotary embedding assumes the family's standard rotate-half form.
    attn_module = sys.modules.get(type(getattr(adapter.layers[0], "self_attn", None)).__module__)
    if not hasattr(attn_module, "rotate_half"):
        return "its attention module has no rotate_half rotary embedding"
    for i, layer in enumerate(adapter.layers):
        missing = [p for p in _LAYER_PARTS if not hasattr(layer, p)]
        missing += [p for p in _ATTN_PARTS if not hasattr(getattr(layer, "self_attn", None), p)]
        missing += [p for p in _MLP_PARTS if not hasattr(getattr(layer, "mlp", None), p)]
        if missing:
            return f"layer {i} lacks {', '.join(missing)}"
    return None


def _norm_args(module):
    eps = getattr(module, "variance_epsilon", None) or getattr(module, "eps", 1e-6)
    return module.weight, float(eps)


def _weight_bias(linear):
    return linear.weight, linear.bias


class _Layer(NamedTuple):
    ln1: tuple
    q: tuple
    k: tuple
    v: tuple
    o: tuple
    q_norm: tuple | None
    k_norm: tuple | None
    ln2: tuple
    gate: tuple
    up: tuple
    down: tuple
    heads: int
    kv_heads: int
    head_dim: int
    scaling: float
    window: int | None


class FastRunner:
    name = "fast"

    def __init__(self, model, adapter, max_batch: int, max_seq_len: int):
        self.model = model
        windows = layer_windows(adapter.text_config, adapter.num_layers)
        self.plan = [self._layer_plan(layer, w) for layer, w in zip(adapter.layers, windows, strict=True)]
        self.embed = adapter.embeddings()
        self.norm = _norm_args(adapter.final_norm)
        self.lm_head = _weight_bias(adapter.lm_head())
        self.hidden = self.norm[0].shape[0]
        self.store = StaticKVCache(len(self.plan), max_batch, max_seq_len)
        self.windows = sorted(set(windows), key=lambda w: -1 if w is None else w)
        param = next(model.parameters())
        with torch.inference_mode():
            pos = torch.arange(max_seq_len, device=param.device)[None]
            cos, sin = model.model.rotary_emb(torch.empty(1, dtype=param.dtype, device=param.device), pos)
        half = cos.shape[-1] // 2
        self.cos = cos[0]  # [max_seq_len, head_dim]
        self.sin_signed = torch.cat([-sin[0, :, :half], sin[0, :, half:]], dim=-1)
        self.device = param.device

    @staticmethod
    def _layer_plan(layer, window) -> _Layer:
        attn, mlp = layer.self_attn, layer.mlp
        q_norm, k_norm = getattr(attn, "q_norm", None), getattr(attn, "k_norm", None)
        hd = attn.head_dim
        return _Layer(
            ln1=_norm_args(layer.input_layernorm), q=_weight_bias(attn.q_proj), k=_weight_bias(attn.k_proj),
            v=_weight_bias(attn.v_proj), o=_weight_bias(attn.o_proj),
            q_norm=_norm_args(q_norm) if q_norm is not None else None,
            k_norm=_norm_args(k_norm) if k_norm is not None else None,
            ln2=_norm_args(layer.post_attention_layernorm), gate=_weight_bias(mlp.gate_proj),
            up=_weight_bias(mlp.up_proj), down=_weight_bias(mlp.down_proj),
            heads=attn.q_proj.weight.shape[0] // hd, kv_heads=attn.k_proj.weight.shape[0] // hd, head_dim=hd,
            scaling=float(attn.scaling), window=window,
        )

    def _forward(self, x, q_pos, masks, write):
        """Decoder layers over ``x [b, q, hidden]`` whose tokens sit at ``q_pos [b, q]``."""
        b, q = x.shape[:2]
        cos = self.cos[q_pos][:, None]  # [b, 1, q, head_dim], broadcast over heads
        sin = self.sin_signed[q_pos][:, None]
        rms_norm, linear = torch.rms_norm, F.linear
        for i, L in enumerate(self.plan):
            hd = L.head_dim
            h = rms_norm(x, (x.shape[-1],), L.ln1[0], L.ln1[1])
            qs = linear(h, *L.q).view(b, q, L.heads, hd)
            ks = linear(h, *L.k).view(b, q, L.kv_heads, hd)
            vs = linear(h, *L.v).view(b, q, L.kv_heads, hd).transpose(1, 2)
            if L.q_norm is not None:
                qs = rms_norm(qs, (hd,), L.q_norm[0], L.q_norm[1])
                ks = rms_norm(ks, (hd,), L.k_norm[0], L.k_norm[1])
            # Rotate q and k in one pass: rotate_half(x) * sin == roll(x, hd / 2) * [-sin1, sin2].
            qk = torch.cat([qs, ks], dim=2).transpose(1, 2)
            qk = qk * cos + qk.roll(hd // 2, dims=-1) * sin
            qs, ks = qk[:, : L.heads], qk[:, L.heads :]
            keys, values = write(i, ks, vs)
            o = F.scaled_dot_product_attention(qs, keys, values, attn_mask=masks[L.window], scale=L.scaling,
                                               enable_gqa=L.kv_heads != L.heads)
            x = x + linear(o.transpose(1, 2).reshape(b, q, -1), *L.o)
            h = rms_norm(x, (x.shape[-1],), L.ln2[0], L.ln2[1])
            x = x + linear(F.silu(linear(h, *L.gate)) * linear(h, *L.up), *L.down)
        return x

    def _logits(self, h: torch.Tensor) -> torch.Tensor:
        h = torch.rms_norm(h, (h.shape[-1],), self.norm[0], self.norm[1])
        return F.linear(h, *self.lm_head).float()

    def _masks(self, q_pos: torch.Tensor, kv_len: int) -> dict:
        return {w: allowed_mask(q_pos, kv_len, w) for w in self.windows}

    @torch.inference_mode()
    def prefill(self, slots: list[int], prompts: list[list[int]]) -> torch.Tensor:
        """Right-padded prompts into cache ``slots``; fp32 logits of each prompt's last token [n, V]."""
        n, q = len(prompts), max(len(p) for p in prompts)
        ids = torch.zeros((n, q), dtype=torch.long)
        for i, p in enumerate(prompts):
            ids[i, : len(p)] = torch.tensor(p)
        ids = ids.to(self.device)
        pos = torch.arange(q, device=self.device).expand(n, q)
        slot_idx = torch.tensor(slots, device=self.device)

        def write(i, k, v):
            self.store.write_prefill(i, slot_idx, k, v)
            return k, v

        x = self._forward(self.embed(ids), pos, self._masks(pos, q), write)
        last = torch.tensor([len(p) - 1 for p in prompts], device=self.device)
        return self._logits(x[torch.arange(n, device=self.device), last])

    @torch.inference_mode()
    def decode(self, tokens: list[int], positions: list[int]) -> torch.Tensor:
        """One token for each of rows ``0..b-1`` at its own position; fp32 logits [b, V]."""
        pos = torch.tensor(positions, device=self.device)
        ids = torch.tensor(tokens, device=self.device)
        return self.decode_tensors(ids, pos, max(positions) + 1)

    def decode_tensors(self, ids: torch.Tensor, pos: torch.Tensor, kv_len: int) -> torch.Tensor:
        """``decode`` on device tensors ``ids, pos: [b]`` with no host work, so a CUDA graph can capture it.

        ``kv_len`` only has to cover every position (a bucketed, larger value is fine: the mask hides the rest).
        """
        store = self.store
        index = {h: store.decode_index(pos, h) for h in {L.kv_heads for L in self.plan}}

        def write(i, k, v):
            return store.write_decode(i, pos, k, v, kv_len, index[k.shape[1]])

        x = self._forward(self.embed(ids[:, None]), pos[:, None], self._masks(pos[:, None], kv_len), write)
        return self._logits(x[:, -1])
