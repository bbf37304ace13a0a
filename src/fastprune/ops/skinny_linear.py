"""Skinny linears: ``x @ W^T`` for a handful of rows of x, the shape of a decode step.

With one row per sequence, every weight element is used by only M multiply-adds, so the product is bound
by reading the weights. torch's float32 CPU linear reaches about a third of the read bandwidth at these
shapes (its GEMM packs and blocks for large M); the native kernel streams each weight row once into
register-resident dot products and prefetches the next tile while computing this one
(csrc/cpu/skinny_linear_isa.cpp).

One call computes several :class:`Projection` s of the same input (a layer's q, k and v), each a plain
linear or a SwiGLU pair ``silu(x @ gate^T) * (x @ up^T)``, optionally of ``RMSNorm(x)`` instead of x, so a
decoder layer's norms and its projections are four calls instead of a dozen ops.

Backends: ``torch`` (the reference, :func:`fused_linears_ref`) and ``native`` (CPU, float32). ``auto`` takes
native on a CPU for float32 inputs with at most :data:`MAX_NATIVE_ROWS` rows and torch otherwise, so
prefill (many rows) stays on torch's GEMM and other dtypes or devices are untouched. Native results equal
the reference to float32 rounding, not bit for bit: the summation order differs. A decode loop builds
:func:`fused_linears_plan` once (it also takes a ``residual`` to add the product into in place).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F

from fastprune.errors import FastpruneError

from ._skinny_linear_ops import skinny_linear_accumulate_cpu, skinny_linear_cpu
from .plan import Choice, OpPlan, choose

# Rows of x up to which auto prefers the native kernel. Measured on a 2-core Zen 4 over the embedded model's
# step (benchmarks/bench_decode_ops.py, benchmarks/results/decode_ops-cpu.json): native 2.3-3x torch at 1
# row, 2.4-3.5x at 8, 1.7-1.9x at 16, and 1.1-1.8x (run to run) at 32-128, where its register tiles are
# compute-bound; past that torch's blocked GEMM (prefill) is the better tool.
MAX_NATIVE_ROWS = 64

IMPLEMENTED_BACKENDS = ("torch", "native")


class Projection(NamedTuple):
    """``x @ weight^T + bias``; with ``up_weight``, ``silu(that) * (x @ up_weight^T + up_bias)``."""

    weight: torch.Tensor
    bias: torch.Tensor | None = None
    up_weight: torch.Tensor | None = None
    up_bias: torch.Tensor | None = None


class RMSNormSpec(NamedTuple):
    """RMSNorm applied to x before the projections, in HF's order: ``weight * (x * rsqrt(mean(x^2) + eps))``."""

    weight: torch.Tensor
    eps: float


def _project_ref(h: torch.Tensor, p: Projection) -> torch.Tensor:
    out = F.linear(h, p.weight, p.bias)
    return out if p.up_weight is None else F.silu(out) * F.linear(h, p.up_weight, p.up_bias)


def fused_linears_ref(x: torch.Tensor, projections: Sequence[Projection],
                      norm: RMSNormSpec | None = None) -> list[torch.Tensor]:
    h = x if norm is None else torch.rms_norm(x, (x.shape[-1],), norm.weight, norm.eps)
    return [_project_ref(h, p) for p in projections]


def _tensors(projections, norm):
    for p in projections:
        yield from (t for t in p if t is not None)
    if norm is not None:
        yield norm.weight


def native_eligible(x: torch.Tensor, projections: Sequence[Projection], norm: RMSNormSpec | None = None) -> str | None:
    """None when the native kernel can take these tensors; else why not."""
    if x.device.type != "cpu":
        return f"x is on {x.device}, the native skinny linear is CPU-only"
    for t in (x, *_tensors(projections, norm)):
        if t.dtype != torch.float32:
            return f"dtype {t.dtype}: the native skinny linear is float32-only"
        if t.device != x.device:
            return f"tensors on different devices ({t.device} and {x.device})"
    return None


def _check(x: torch.Tensor, projections: Sequence[Projection], norm: RMSNormSpec | None) -> None:
    k = x.shape[-1] if x.dim() > 0 else None
    if k is None:
        raise FastpruneError("skinny_linear: x must have at least one dimension")
    if not projections:
        raise FastpruneError("skinny_linear: no projections given")
    for i, p in enumerate(projections):
        for name, w, b in (("weight", p.weight, p.bias), ("up_weight", p.up_weight, p.up_bias)):
            if w is None:
                if b is not None:
                    raise FastpruneError(f"skinny_linear: projection {i} has an up_bias but no up_weight")
                continue
            if w.dim() != 2 or w.shape[1] != k:
                raise FastpruneError(
                    f"skinny_linear: projection {i} {name} must be [out, {k}] to match x, got {tuple(w.shape)}")
            if b is not None and b.shape != (w.shape[0],):
                raise FastpruneError(
                    f"skinny_linear: projection {i} bias for {name} must be [{w.shape[0]}], got {tuple(b.shape)}")
        if p.up_weight is not None and p.up_weight.shape != p.weight.shape:
            raise FastpruneError(f"skinny_linear: projection {i} gate {tuple(p.weight.shape)} and up "
                                 f"{tuple(p.up_weight.shape)} weights differ in shape")
    if norm is not None and norm.weight.shape != (k,):
        raise FastpruneError(f"skinny_linear: norm weight must be [{k}], got {tuple(norm.weight.shape)}")


def fused_linears_native(x: torch.Tensor, projections: Sequence[Projection], norm: RMSNormSpec | None = None,
                         residual: torch.Tensor | None = None) -> list[torch.Tensor]:
    """The native kernel with no dispatch or checks: for callers that validated once (the decode loop).

    ``residual`` (one projection only; float32, contiguous, shaped like the output): the product is added
    into it in place and it is returned, a residual connection without a separate add.
    """
    if residual is not None and len(projections) != 1:
        raise FastpruneError("skinny_linear: residual needs one projection and a contiguous output-shaped "
                             f"tensor, got {len(projections)} projections")
    if x.shape[-1] == 0:  # an empty dot product: the bias (or silu(bias) * up_bias) on every row
        outs = fused_linears_ref(x, projections, norm)
        if residual is not None:
            return [residual.add_(outs[0].reshape(residual.shape))]
        return outs
    norm_weight, eps = (norm.weight, float(norm.eps)) if norm is not None else (None, 0.0)
    if residual is not None:
        skinny_linear_accumulate_cpu(x, *projections[0], norm_weight, eps, residual)
        return [residual]
    weights, biases, up_weights, up_biases = zip(*projections, strict=True)
    return skinny_linear_cpu(x, weights, biases, up_weights, up_biases, norm_weight, eps)


class FusedLinearsPlan(OpPlan):
    """``fused_linears`` with its backend chosen: call it as ``plan(x, projections, norm=None, residual=None)``.

    Calls are not checked (the caller checked once). ``native_rows``: calls with more rows than this run
    torch (prefill); ``residual`` is then added to as the native kernel would.
    """

    def __init__(self, choice: Choice, native_rows: int | None):
        super().__init__(choice)
        self.native_rows = native_rows
        # Read on every decode-step call: plain attributes rather than the .backend property.
        self._native = choice.backend == "native"
        self._row_limit = math.inf if native_rows is None else native_rows
        self._empty_ok = choice.explicit  # auto sends k == 0 (an empty dot product) to torch

    def backend_for(self, rows: int, in_features: int = 1) -> str:
        """The backend a call with ``rows`` rows of ``in_features`` runs on."""
        if self._native and rows <= self._row_limit and (in_features > 0 or self._empty_ok):
            return "native"
        return "torch"

    def __call__(self, x: torch.Tensor, projections: Sequence[Projection], norm: RMSNormSpec | None = None,
                 residual: torch.Tensor | None = None) -> list[torch.Tensor]:
        shape = x.shape
        if self._native and math.prod(shape[:-1]) <= self._row_limit and (shape[-1] > 0 or self._empty_ok):
            return fused_linears_native(x, projections, norm, residual)
        outs = fused_linears_ref(x, projections, norm)
        if residual is not None:
            return [residual.add_(outs[0].reshape(residual.shape))]
        return outs


def fused_linears_plan(x: torch.Tensor, projections: Sequence[Projection], norm: RMSNormSpec | None = None,
                       backend: str | None = None, *, native_rows: int | None = None) -> FusedLinearsPlan:
    """The plan for calls on tensors like ``x``, ``projections`` and ``norm`` (same devices and dtypes).

    ``native_rows`` defaults to :data:`MAX_NATIVE_ROWS` when auto chose native, and to no limit when native
    was asked for. Raises :class:`~fastprune.ops.BackendUnavailableError` when an explicit request cannot be met.
    """
    choice = choose("skinny_linear", x.device, backend, implemented=IMPLEMENTED_BACKENDS,
                    ineligible=lambda name: native_eligible(x, projections, norm))
    if native_rows is None and not choice.explicit:
        native_rows = MAX_NATIVE_ROWS
    return FusedLinearsPlan(choice, native_rows)


def _choose(x, projections, norm, backend) -> str:
    return fused_linears_plan(x, projections, norm, backend).backend_for(math.prod(x.shape[:-1]), x.shape[-1])


def fused_linears(x: torch.Tensor, projections: Sequence[Projection], norm: RMSNormSpec | None = None,
                  backend: str | None = None) -> list[torch.Tensor]:
    """Each projection of ``x [..., in]`` (of ``RMSNorm(x)`` when ``norm`` is given): ``[..., out]`` each."""
    projections = [p if isinstance(p, Projection) else Projection(*p) for p in projections]
    _check(x, projections, norm)
    return fused_linears_plan(x, projections, norm, backend)(x, projections, norm)


def skinny_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                  backend: str | None = None) -> torch.Tensor:
    """``F.linear(x, weight, bias)``, natively on a CPU when x has few rows."""
    return fused_linears(x, [Projection(weight, bias)], backend=backend)[0]


def swiglu_linear(x: torch.Tensor, gate_weight: torch.Tensor, up_weight: torch.Tensor,
                  gate_bias: torch.Tensor | None = None, up_bias: torch.Tensor | None = None,
                  backend: str | None = None) -> torch.Tensor:
    """``silu(x @ gate^T + gate_bias) * (x @ up^T + up_bias)``: a gated MLP's first half, one pass over both."""
    return fused_linears(x, [Projection(gate_weight, gate_bias, up_weight, up_bias)], backend=backend)[0]
