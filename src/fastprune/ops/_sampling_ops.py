"""The sampling kernels registered as ``torch.library`` custom ops (semantics in :mod:`.sampling`).

``fastprune::sample_cpu`` (native C++) and ``fastprune::sample_triton`` take ``logits [B, V]``, one
``temperature``, ``top_k``, ``top_p`` and ``uniform`` per row, and ``return_probs``; they return the int64
ids ``[B]`` and the kept float32 probabilities, ``[B, V]`` with ``return_probs`` and ``[B, 0]`` without.
Callers have checked shapes (and, for the native op, that logits are on the CPU). The bodies load the
native module or the Triton kernel on first call.
"""

from __future__ import annotations

import torch

from . import native
from .plan import eager_or_op


def sample_cpu_body(logits: torch.Tensor, temperature: torch.Tensor, top_k: torch.Tensor, top_p: torch.Tensor,
                    uniform: torch.Tensor, return_probs: bool) -> tuple[torch.Tensor, torch.Tensor]:
    module = native.require("cpu")
    logits = logits.float()
    if logits.stride(-1) != 1:
        logits = logits.contiguous()
    b, v = logits.shape
    temperature = temperature.to(torch.float32).contiguous()
    top_k, top_p = top_k.to(torch.int64).contiguous(), top_p.to(torch.float32).contiguous()
    uniform = uniform.to(torch.float32).contiguous()
    out = torch.empty(b, dtype=torch.int64)
    kept = torch.empty((b, v if return_probs else 0), dtype=torch.float32)
    module.sample(logits.data_ptr(), logits.stride(0) if b > 1 else v, b, v, temperature.data_ptr(),
                  top_k.data_ptr(), top_p.data_ptr(), uniform.data_ptr(), out.data_ptr(),
                  kept.data_ptr() if return_probs else 0, torch.get_num_threads())
    return out, kept


def sample_triton_body(logits: torch.Tensor, temperature: torch.Tensor, top_k: torch.Tensor, top_p: torch.Tensor,
                       uniform: torch.Tensor, return_probs: bool) -> tuple[torch.Tensor, torch.Tensor]:
    from fastprune.kernels.sampling_triton import sample_triton

    out, kept = sample_triton(logits, temperature, top_k, top_p, uniform, return_probs=True)
    return out, kept if return_probs else kept.new_empty((kept.shape[0], 0))


sample_cpu_op = torch.library.custom_op("fastprune::sample_cpu", sample_cpu_body, mutates_args=(),
                                        device_types="cpu")
sample_triton_op = torch.library.custom_op("fastprune::sample_triton", sample_triton_body, mutates_args=())


def _fake(logits, temperature, top_k, top_p, uniform, return_probs):
    b, v = logits.shape
    return (logits.new_empty((b,), dtype=torch.int64),
            logits.new_empty((b, v if return_probs else 0), dtype=torch.float32))


for _op in (sample_cpu_op, sample_triton_op):
    _op.register_fake(_fake)

sample_cpu = eager_or_op(sample_cpu_body, sample_cpu_op)
sample_triton = eager_or_op(sample_triton_body, sample_triton_op)
