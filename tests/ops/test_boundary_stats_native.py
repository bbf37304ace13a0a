"""fastprune._native_cpu (every instruction set this CPU runs) against the torch reference."""

from __future__ import annotations

import pytest
import torch

from fastprune.ops import boundary_stats, native_build_info

CPU_INFO = native_build_info()["cpu"]
pytestmark = pytest.mark.skipif(not CPU_INFO["loaded"], reason=f"native CPU module unavailable: {CPU_INFO['error']}")

ISAS = CPU_INFO.get("isas_supported", [])
SHAPES = [(7, 129, 577), (3, 1, 5), (33, 67, 64), (31, 9, 576), (2, 17, 1)]


@pytest.fixture(params=ISAS or ["none"])
def isa(request, monkeypatch):
    """Runs the test once per compiled instruction set this CPU supports (FASTPRUNE_CPU_ISA)."""
    monkeypatch.setenv("FASTPRUNE_CPU_ISA", request.param)
    return request.param


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16], ids=str)
def test_native_cpu_matches_ref(isa, shape, dtype, residual_hidden, token_weights, assert_stats_close):
    hidden = residual_hidden(*shape, dtype=dtype, seed=shape[1])
    weight = token_weights(shape[1], seed=shape[1])
    assert_stats_close(boundary_stats(hidden, weight, backend="native"), hidden, weight)


@pytest.mark.parametrize("layout", ["token_major", "sliced"])
def test_native_cpu_strided_inputs(isa, layout, residual_hidden, token_weights, assert_stats_close):
    hidden = residual_hidden(5, 23, 40, layout=layout, seed=7)
    assert not hidden.is_contiguous() and hidden.stride(-1) == 1
    weight = token_weights(23, seed=7)
    assert_stats_close(boundary_stats(hidden, weight, backend="native"), hidden, weight)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")], ids=["nan", "inf"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_native_cpu_propagates_nonfinite(isa, bad, dtype, residual_hidden, token_weights, assert_stats_close):
    k, n, d, row = 6, 19, 33, 2
    hidden = residual_hidden(k, n, d, dtype=dtype, seed=5)
    hidden[row, 4, 7] = bad
    weight = token_weights(n, seed=5)
    weight[4] = 0.0  # a zero weight multiplies: it does not hide a non-finite state
    got = boundary_stats(hidden, weight, backend="native")

    touched = torch.zeros(k, k, dtype=torch.bool)
    touched[row, :] = touched[:, row] = True
    for matrix in (got.cos_sum, got.ang_sum):
        assert torch.isnan(matrix[touched]).all()
        assert torch.isfinite(matrix[~touched]).all()
    assert not torch.isfinite(got.norm_sum[row])
    assert torch.isnan(got.update_sum[[row - 1, row]]).all()
    others = [i for i in range(k - 1) if i not in (row - 1, row)]
    assert torch.isfinite(got.update_sum[others]).all()
    assert_stats_close(got, hidden, weight)


def test_native_cpu_zero_tokens_and_zero_vectors(isa):
    empty = boundary_stats(torch.randn(4, 0, 8), torch.ones(0), backend="native")
    assert all(torch.count_nonzero(field) == 0 for field in empty)
    # All-zero states: norms 0 and, by the eps rule, cosines 0 (diagonal included), so angles 1/2.
    zeros = boundary_stats(torch.zeros(3, 5, 8), torch.ones(5), backend="native")
    torch.testing.assert_close(zeros.cos_sum, torch.zeros(3, 3, dtype=torch.float64))
    torch.testing.assert_close(zeros.ang_sum, torch.full((3, 3), 2.5, dtype=torch.float64))
    torch.testing.assert_close(zeros.norm_sum, torch.zeros(3, dtype=torch.float64))


def test_native_cpu_thread_count_does_not_change_results(residual_hidden, token_weights):
    hidden = residual_hidden(5, 100, 48, seed=2)
    weight = token_weights(100, seed=2)
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = boundary_stats(hidden, weight, backend="native")
        torch.set_num_threads(2)
        two = boundary_stats(hidden, weight, backend="native")
    finally:
        torch.set_num_threads(previous)
    for a, b in zip(one, two, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_unknown_isa_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("FASTPRUNE_CPU_ISA", "sse1")
    with pytest.raises(RuntimeError, match="FASTPRUNE_CPU_ISA=sse1"):
        boundary_stats(torch.randn(2, 3, 4), torch.ones(3), backend="native")
