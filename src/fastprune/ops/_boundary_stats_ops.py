"""``boundary_stats`` kernels registered as ``torch.library`` custom ops.

``fastprune::boundary_stats_cpu`` (native C++), ``fastprune::boundary_stats_cuda`` (native CUDA) and
``fastprune::boundary_stats_triton`` each take ``hidden [K, N, D]`` (float32/bfloat16/float16, last dim
contiguous) and ``weight [N]`` (float32, contiguous, same device) and return the packed float64
``[2*K*K + 2*K]`` buffer of :mod:`.boundary_stats_types`. Being custom ops with fake implementations,
they are opaque to ``torch.compile`` (traced, not inlined). Registering them imports no backend: each
body loads its native module or Triton kernel on first call.
"""

from __future__ import annotations

import torch

from . import native
from .boundary_stats_types import packed_size


def _fake(hidden: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return hidden.new_empty((packed_size(hidden.shape[0]),), dtype=torch.float64)


@torch.library.custom_op("fastprune::boundary_stats_cpu", mutates_args=(), device_types="cpu")
def boundary_stats_cpu(hidden: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    module = native.require("cpu")
    k, n, d = hidden.shape
    out = torch.empty(packed_size(k), dtype=torch.float64)
    module.boundary_stats(
        hidden.data_ptr(), weight.data_ptr(), k, n, d, hidden.stride(0), hidden.stride(1),
        native.DTYPE_CODES[hidden.dtype], out.data_ptr(), torch.get_num_threads(),
    )  # fmt: skip
    return out


@torch.library.custom_op("fastprune::boundary_stats_cuda", mutates_args=(), device_types="cuda")
def boundary_stats_cuda(hidden: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    module = native.require("cuda")
    k, n, d = hidden.shape
    device = hidden.device
    out = torch.empty(packed_size(k), dtype=torch.float64, device=device)
    sm_count = torch.cuda.get_device_properties(device).multi_processor_count
    grid = module.boundary_stats_grid(k, n, sm_count)
    workspace = torch.empty(module.boundary_stats_workspace_floats(k, grid), dtype=torch.float32, device=device)
    with torch.cuda.device(device):
        module.boundary_stats(
            hidden.data_ptr(), weight.data_ptr(), k, n, d, hidden.stride(0), hidden.stride(1),
            native.DTYPE_CODES[hidden.dtype], out.data_ptr(), workspace.data_ptr(), grid,
            torch.cuda.current_stream(device).cuda_stream,
        )  # fmt: skip
    return out


@torch.library.custom_op("fastprune::boundary_stats_triton", mutates_args=())
def boundary_stats_triton(hidden: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    from fastprune.kernels import boundary_stats_triton as kernel

    return kernel.boundary_stats_triton(hidden, weight)


for _op in (boundary_stats_cpu, boundary_stats_cuda, boundary_stats_triton):
    _op.register_fake(_fake)
