"""Direct decoder for Llama-like families (Llama, Mistral, Qwen2, Qwen3): the model's weights, our loop.

It reads the HF modules' own parameter tensors (no copies) but replaces the per-step machinery around
them: no module calls or kwargs plumbing, fused RMSNorm, rotary tables precomputed for every position,
one mask per window size per step, and SDPA straight on the static cache. At batch 1 on a CPU that
machinery is a large share of a step; the weights themselves are the floor.

Decode steps on a CPU in float32 run their matrix products through the native skinny linear
(:mod:`fastprune.ops.skinny_linear`): a step reads every weight once for a few rows, and torch's GEMM
reaches only about a third of the read bandwidth there. Those products agree with torch to float32
rounding, not bit for bit; ``FASTPRUNE_BACKEND=torch`` (or ``linear_backend="torch"``) keeps everything on
torch. With it, every rewrite is bit-for-bit the HF computation in float32 (checked by the greedy-parity
tests):
``torch.rms_norm`` equals HF's RMSNorm, and ``rotate_half(x) * sin == roll(x, d/2) * [-sin1, sin2]``
exactly, because negation commutes with rounding. Any family that does not match the expected layer
shape takes the general HF runner instead.
"""

from __future__ import annotations

import sys
from typing import NamedTuple

import torch
import torch.nn.functional as F

from fastprune.data.batching import pad_batch
from fastprune.engines.native.kv_cache import StaticKVCache
from fastprune.errors import FastpruneError
from fastprune.models.masks import allowed_mask, layer_windows
from fastprune.ops import MAX_NATIVE_ROWS, Projection, RMSNormSpec, decode_attention_plan, fused_linears_plan

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


def _projection(linear) -> Projection:
    return Projection(linear.weight, linear.bias)


class _Layer(NamedTuple):
    # Projections grouped as one fused_linears call each: the torch path runs fused_linears_ref (HF's own
    # ops), the native path the native kernel, so both read the same layer plan.
    ln1: RMSNormSpec
    qkv: tuple[Projection, Projection, Projection]
    o: tuple[Projection]
    ln2: RMSNormSpec
    gate_up: tuple[Projection]  # SwiGLU: silu(gate) * up
    down: tuple[Projection]
    q_norm: tuple | None
    k_norm: tuple | None
    heads: int
    kv_heads: int
    head_dim: int
    scaling: float
    window: int | None


class FastRunner:
    name = "fast"

    def __init__(self, model, adapter, max_batch: int, max_seq_len: int, linear_backend: str | None = None):
        self.model = model
        windows = layer_windows(adapter.text_config, adapter.num_layers)
        self.plan = [self._layer_plan(layer, w) for layer, w in zip(adapter.layers, windows, strict=True)]
        self.embed = adapter.embeddings()
        self.head = ((_projection(adapter.lm_head()),), RMSNormSpec(*_norm_args(adapter.final_norm)))
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
        self.linears, self.attention = self._op_plans(linear_backend, param)
        self.linear_backend = self.linears.backend

    def _op_plans(self, requested: str | None, param: torch.Tensor):
        """The decode step's op plans, native for both or neither (an explicit request must be met).

        Passes of more than MAX_NATIVE_ROWS rows (prefill) run torch's GEMM whatever was asked for."""
        groups = [g for L in self.plan for g in (L.qkv, L.o, L.gate_up, L.down)] + [self.head[0]]
        projections = [p for g in groups for p in g]
        linears = fused_linears_plan(param, projections, backend=requested, native_rows=MAX_NATIVE_ROWS)
        attention = decode_attention_plan(param.device, [param.dtype], requested, norm_eps=[
            (L.q_norm[1], L.k_norm[1]) for L in self.plan if L.q_norm is not None and L.k_norm is not None])
        if linears.backend == "native" and attention.backend != "native":
            if linears.choice.explicit:
                raise FastpruneError(f"{linears.choice.source}: the fast runner's decode kernels cannot run here: "
                                     f"{attention.choice.reason}")
            linears = fused_linears_plan(param, projections, backend="torch")
        return linears, attention

    @staticmethod
    def _layer_plan(layer, window) -> _Layer:
        attn, mlp = layer.self_attn, layer.mlp
        q_norm, k_norm = getattr(attn, "q_norm", None), getattr(attn, "k_norm", None)
        hd = attn.head_dim
        gate, up = _projection(mlp.gate_proj), _projection(mlp.up_proj)
        return _Layer(
            ln1=RMSNormSpec(*_norm_args(layer.input_layernorm)),
            qkv=(_projection(attn.q_proj), _projection(attn.k_proj), _projection(attn.v_proj)),
            o=(_projection(attn.o_proj),), ln2=RMSNormSpec(*_norm_args(layer.post_attention_layernorm)),
            gate_up=(Projection(gate.weight, gate.bias, up.weight, up.bias),), down=(_projection(mlp.down_proj),),
            q_norm=_norm_args(q_norm) if q_norm is not None else None,
            k_norm=_norm_args(k_norm) if k_norm is not None else None,
            heads=attn.q_proj.weight.shape[0] // hd, kv_heads=attn.k_proj.weight.shape[0] // hd, head_dim=hd,
            scaling=float(attn.scaling), window=window,
        )

    def _forward(self, x, q_pos, masks, write, packed=None):
        """Decoder layers over ``x [b, q, hidden]`` whose tokens sit at ``q_pos [b, q]``.

        ``packed=(index, b, q)``: ``x`` is ``[T, hidden]``, only the real tokens of a right-padded ``[b, q]``
        batch (``index`` their flat positions in it). Every projection then runs on the T real rows, and
        only attention sees the padded layout: prompts of mixed lengths waste no matrix work on padding.
        """
        if packed is None:
            b, q = x.shape[:2]
        else:
            index, b, q = packed

        def padded(t, heads, hd):  # [rows, heads * hd] -> [b, q, heads, hd]
            if packed is not None:
                t = t.new_zeros((b * q, t.shape[-1])).index_copy_(0, index, t)
            return t.view(b, q, heads, hd)

        cos = self.cos[q_pos][:, None]  # [b, 1, q, head_dim], broadcast over heads
        sin = self.sin_signed[q_pos][:, None]
        rms_norm = torch.rms_norm
        project = self.linears
        for i, L in enumerate(self.plan):
            hd = L.head_dim
            qs, ks, vs = project(x, L.qkv, L.ln1)
            qs, ks = padded(qs, L.heads, hd), padded(ks, L.kv_heads, hd)
            vs = padded(vs, L.kv_heads, hd).transpose(1, 2)
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
            o = o.transpose(1, 2).reshape(b, q, -1)
            if packed is not None:
                o = o.reshape(b * q, -1).index_select(0, index)
            x = x + project(o, L.o)[0]
            x = x + project(project(x, L.gate_up, L.ln2)[0], L.down)[0]
        return x

    def _logits(self, h: torch.Tensor) -> torch.Tensor:
        return self.linears(h, *self.head)[0].float()

    def _masks(self, q_pos: torch.Tensor, kv_len: int) -> dict:
        return {w: allowed_mask(q_pos, kv_len, w) for w in self.windows}

    @torch.inference_mode()
    def prefill(self, slots: list[int], prompts: list[list[int]]) -> torch.Tensor:
        """Prompts into cache ``slots``; fp32 logits of each prompt's last token [n, V].

        Attention sees them right-padded to the longest; everything else runs on the real tokens only.
        """
        n, q = len(prompts), max(len(p) for p in prompts)
        ids = pad_batch(prompts, 0)[0].to(self.device)
        pos = torch.arange(q, device=self.device).expand(n, q)
        slot_idx = torch.tensor(slots, device=self.device)

        def write(i, k, v):
            self.store.write_prefill(i, slot_idx, k, v)
            return k, v

        lengths = [len(p) for p in prompts]
        masks = self._masks(pos, q)
        if sum(lengths) == n * q:
            x = self._forward(self.embed(ids), pos, masks, write)
            last = torch.tensor([length - 1 for length in lengths], device=self.device)
            return self._logits(x[torch.arange(n, device=self.device), last])
        index = torch.tensor([i * q + t for i, length in enumerate(lengths) for t in range(length)],
                             device=self.device)
        x = self._forward(self.embed(ids.view(-1).index_select(0, index)), pos, masks, write, packed=(index, n, q))
        ends = torch.tensor(lengths, device=self.device).cumsum(0) - 1
        return self._logits(x[ends])

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
        if self.linears.backend_for(ids.shape[0]) == "native":
            return self._decode_native(ids, pos)
        store = self.store
        index = {h: store.decode_index(pos, h) for h in {L.kv_heads for L in self.plan}}

        def write(i, k, v):
            return store.write_decode(i, pos, k, v, kv_len, index[k.shape[1]])

        x = self._forward(self.embed(ids[:, None]), pos[:, None], self._masks(pos[:, None], kv_len), write)
        return self._logits(x[:, -1])

    def _decode_native(self, ids: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """A decode step as five native calls per layer: norm+qkv, rotary+cache write+attention, o (+residual),
        norm+gate/up, down (+residual). Same math as ``_forward``; float32 rounding differs."""
        x = self.embed(ids).contiguous()  # [b, hidden]; a fresh tensor the residual adds may update in place
        b = x.shape[0]
        for i, L in enumerate(self.plan):
            hd = L.head_dim
            qs, ks, vs = self.linears(x, L.qkv, L.ln1)
            ks, vs = ks.view(b, L.kv_heads, hd), vs.view(b, L.kv_heads, hd)
            keys, values = self.store.buffers(i, ks[:, :, None])
            o = self.attention(qs.view(b, L.heads, hd), ks, vs, keys, values, pos, self.cos, self.sin_signed,
                               L.scaling, L.window, L.q_norm, L.k_norm)
            self.linears(o.view(b, -1), L.o, residual=x)
            gated = self.linears(x, L.gate_up, L.ln2)[0]
            self.linears(gated, L.down, residual=x)
        return self.linears(x, *self.head)[0]
