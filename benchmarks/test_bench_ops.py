"""pytest-benchmark microbenchmarks of the kernel ops (not part of the test suite, whose testpaths is tests/).

pytest benchmarks/test_bench_ops.py --benchmark-columns=median,iqr,rounds
"""

from __future__ import annotations

import pytest
import torch

from fastprune.ops import available_backends, boundary_stats

CPU_BACKENDS = [b for b in available_backends("cpu") if b != "triton"]
CUDA_BACKENDS = available_backends("cuda") if torch.cuda.is_available() else []


def residual_inputs(k: int, n: int, d: int, dtype: torch.dtype, device: str):
    gen = torch.Generator(device=device).manual_seed(0)
    base = torch.randn(n, d, device=device, generator=gen)
    hidden = torch.cat([base[None], base[None] + 0.1 * torch.randn(k - 1, n, d, device=device, generator=gen)])
    return hidden.to(dtype), torch.ones(n, device=device)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_boundary_stats_cpu_smollm2(benchmark, backend, dtype):
    """The embedded SmolLM2-135M case: 30 layers -> 31 boundaries, 576 wide, a 2048-token batch."""
    hidden, weight = residual_inputs(31, 2048, 576, dtype, "cpu")
    benchmark.extra_info["gb"] = hidden.numel() * hidden.element_size() / 1e9
    benchmark(boundary_stats, hidden, weight, backend=backend)


@pytest.mark.skipif(not CUDA_BACKENDS, reason="needs a CUDA device")
@pytest.mark.parametrize("backend", CUDA_BACKENDS or ["none"])
@pytest.mark.parametrize("size", [(31, 2048, 576), (33, 4096, 4096)], ids=str)
def test_boundary_stats_cuda(benchmark, backend, size):
    hidden, weight = residual_inputs(*size, torch.bfloat16, "cuda")
    benchmark.extra_info["gb"] = hidden.numel() * hidden.element_size() / 1e9

    def run():
        boundary_stats(hidden, weight, backend=backend)
        torch.cuda.synchronize()

    benchmark(run)
