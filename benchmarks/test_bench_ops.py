"""pytest-benchmark microbenchmarks of the kernel ops (not part of the test suite, whose testpaths is tests/).

pytest benchmarks/test_bench_ops.py --benchmark-columns=median,iqr,rounds
"""

from __future__ import annotations

import pytest
import torch

from fastprune.ops import available_backends, boundary_stats, sample, sample_ref

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


def sampling_inputs(batch: int, vocab: int, device: str):
    gen = torch.Generator(device=device).manual_seed(0)
    logits = torch.randn(batch, vocab, device=device, generator=gen) * 3
    temperature = torch.full((batch,), 0.9, device=device)
    top_k = torch.zeros(batch, dtype=torch.long, device=device)
    top_p = torch.full((batch,), 0.95, device=device)
    uniform = torch.rand(batch, device=device, generator=gen)
    return logits, temperature, top_k, top_p, uniform


@pytest.mark.parametrize("impl", ["sample_ref", *CPU_BACKENDS])
@pytest.mark.parametrize("shape", [(1, 49152), (8, 49152), (8, 128256)], ids=str)
def test_sampling_cpu(benchmark, impl, shape):
    """The paper's sampling settings (temperature 0.9, top-p 0.95): sort-based reference vs each backend."""
    args = sampling_inputs(*shape, "cpu")
    if impl == "sample_ref":
        benchmark(sample_ref, *args)
    else:
        benchmark(sample, *args, backend=impl)


@pytest.mark.skipif(not CUDA_BACKENDS, reason="needs a CUDA device")
@pytest.mark.parametrize("backend", ["torch", "triton"])
@pytest.mark.parametrize("shape", [(1, 128256), (64, 128256)], ids=str)
def test_sampling_cuda(benchmark, backend, shape):
    args = sampling_inputs(*shape, "cuda")

    def run():
        sample(*args, backend=backend)
        torch.cuda.synchronize()

    benchmark(run)
