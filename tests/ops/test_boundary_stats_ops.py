"""The torch.library registrations: schema/fake-tensor consistency and torch.compile tracing."""

from __future__ import annotations

import pytest
import torch

from fastprune.ops import boundary_stats, native_build_info

NATIVE_CPU = native_build_info()["cpu"]["loaded"]


@pytest.mark.skipif(not NATIVE_CPU, reason="fastprune._native_cpu is not built")
def test_native_cpu_op_passes_opcheck(residual_hidden, token_weights):
    hidden = residual_hidden(3, 5, 8)
    torch.library.opcheck(torch.ops.fastprune.boundary_stats_cpu.default, (hidden, token_weights(5)))


def test_fake_kernels_give_packed_shape():
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        hidden = torch.empty(5, 7, 9, dtype=torch.bfloat16)
        weight = torch.empty(7)
        for op in ("boundary_stats_cpu", "boundary_stats_cuda", "boundary_stats_triton"):
            out = getattr(torch.ops.fastprune, op)(hidden, weight)
            assert out.shape == (2 * 5 * 5 + 2 * 5,) and out.dtype == torch.float64, op


@pytest.mark.parametrize("backend", ["native", "torch"])
def test_compiles_without_graph_breaks(backend, residual_hidden, token_weights):
    if backend == "native" and not NATIVE_CPU:
        pytest.skip("fastprune._native_cpu is not built")
    hidden = residual_hidden(4, 6, 10)
    weight = token_weights(6)

    def mean_angle(h, w):
        stats = boundary_stats(h, w, backend=backend)
        return stats.ang_sum / stats.weight_sum

    torch._dynamo.reset()
    compiled = torch.compile(mean_angle, backend="aot_eager", fullgraph=True)
    torch.testing.assert_close(compiled(hidden, weight), mean_angle(hidden, weight), rtol=0, atol=0)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("op", ["boundary_stats_cuda", "boundary_stats_triton"])
def test_gpu_ops_pass_opcheck(op, residual_hidden, token_weights):
    hidden, weight = residual_hidden(5, 9, 70, dtype=torch.bfloat16).cuda(), token_weights(9).cuda()
    torch.library.opcheck(getattr(torch.ops.fastprune, op).default, (hidden, weight))
