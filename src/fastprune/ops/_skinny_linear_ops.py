"""The native skinny linear registered as ``torch.library`` custom ops (semantics in :mod:`.skinny_linear`).

``fastprune::skinny_linear_cpu(x [..., k], weights, biases, up_weights, up_biases, norm_weight, eps)`` returns
one float32 ``[..., n_i]`` per projection; ``fastprune::skinny_linear_accumulate_cpu`` takes one projection
and adds its product into ``residual`` in place (two ops, because an op that both mutates an input and
returns a list cannot be functionalised for torch.compile). Projections are passed as parallel lists
(None where a bias or the up weight is absent). Callers have checked shapes, dtypes (float32) and devices
(CPU), and handle ``k == 0``. The bodies load the native module on first call.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from fastprune.errors import FastpruneError

from . import native
from .plan import eager_or_op


def _unit_stride(t: torch.Tensor | None) -> torch.Tensor | None:
    return t if t is None or t.stride(-1) == 1 else t.contiguous()


def _run(x, weights, biases, up_weights, up_biases, norm_weight, eps, residual):
    module = native.require("cpu")
    k = x.shape[-1]
    m = math.prod(x.shape[:-1])
    x2 = x.reshape(m, k)
    if x2.stride(-1) != 1:
        x2 = x2.contiguous()
    outs, specs = [], []
    keep = [x2]  # contiguous copies made below must outlive the native call, not just their loop iteration
    for w, bias, up, up_bias in zip(weights, biases, up_weights, up_biases, strict=True):
        w, up = _unit_stride(w), _unit_stride(up)
        if up is not None and up.stride(0) != w.stride(0):
            w, up = w.contiguous(), up.contiguous()
        bias, up_bias = _unit_stride(bias), _unit_stride(up_bias)
        keep += [w, up, bias, up_bias]
        n = w.shape[0]
        if residual is not None:
            if not residual.is_contiguous() or residual.numel() != m * n:
                raise FastpruneError("skinny_linear: residual needs one projection and a contiguous output-shaped "
                                     f"tensor, got {tuple(residual.shape)} for {m} x {n}")
            y = residual
        else:
            y = torch.empty((m, n), dtype=torch.float32)
            outs.append(y.view(*x.shape[:-1], n))
        specs.append((w.data_ptr(), up.data_ptr() if up is not None else 0, w.stride(0) if n > 1 else k,
                      bias.data_ptr() if bias is not None else 0, up_bias.data_ptr() if up_bias is not None else 0,
                      y.data_ptr(), n, n, residual is not None))
    norm_weight = _unit_stride(norm_weight)
    keep.append(norm_weight)
    module.skinny_linear(x2.data_ptr(), x2.stride(0) if m > 1 else k, m, k,
                         norm_weight.data_ptr() if norm_weight is not None else 0,
                         float(eps), specs, torch.get_num_threads())
    return outs


def skinny_linear_cpu_body(x: torch.Tensor, weights: Sequence[torch.Tensor], biases: Sequence[torch.Tensor | None],
                           up_weights: Sequence[torch.Tensor | None], up_biases: Sequence[torch.Tensor | None],
                           norm_weight: torch.Tensor | None, eps: float) -> list[torch.Tensor]:
    return _run(x, weights, biases, up_weights, up_biases, norm_weight, eps, None)


def skinny_linear_accumulate_cpu_body(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                                      up_weight: torch.Tensor | None, up_bias: torch.Tensor | None,
                                      norm_weight: torch.Tensor | None, eps: float, residual: torch.Tensor) -> None:
    _run(x, [weight], [bias], [up_weight], [up_bias], norm_weight, eps, residual)


skinny_linear_cpu_op = torch.library.custom_op(
    "fastprune::skinny_linear_cpu", skinny_linear_cpu_body, mutates_args=(), device_types="cpu")
skinny_linear_accumulate_cpu_op = torch.library.custom_op(
    "fastprune::skinny_linear_accumulate_cpu", skinny_linear_accumulate_cpu_body, mutates_args=("residual",),
    device_types="cpu")


@skinny_linear_cpu_op.register_fake
def _(x, weights, biases, up_weights, up_biases, norm_weight, eps):
    return [x.new_empty((*x.shape[:-1], w.shape[0]), dtype=torch.float32) for w in weights]


@skinny_linear_accumulate_cpu_op.register_fake
def _(x, weight, bias, up_weight, up_bias, norm_weight, eps, residual):
    return None


skinny_linear_cpu = eager_or_op(skinny_linear_cpu_body, skinny_linear_cpu_op)
skinny_linear_accumulate_cpu = eager_or_op(skinny_linear_accumulate_cpu_body, skinny_linear_accumulate_cpu_op)
