"""The torch reference against a per-token loop written with torch.nn.functional.cosine_similarity."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from fastprune.ops import BoundaryStats, boundary_stats_ref


def naive_boundary_stats(hidden: torch.Tensor, weight: torch.Tensor, eps: float = 1e-8) -> BoundaryStats:
    """Literal float64 definition, one token and one pair at a time."""
    k, n, _ = hidden.shape
    h = hidden.double()
    cos_sum = torch.zeros(k, k, dtype=torch.float64)
    ang_sum = torch.zeros(k, k, dtype=torch.float64)
    norm_sum = torch.zeros(k, dtype=torch.float64)
    update_sum = torch.zeros(k - 1, dtype=torch.float64)
    for t in range(n):
        w = float(weight[t])
        for i in range(k):
            norm_sum[i] += w * h[i, t].norm()
            if i + 1 < k:
                update_sum[i] += w * (h[i + 1, t] - h[i, t]).norm() / h[i, t].norm().clamp_min(eps)
            for j in range(k):
                c = F.cosine_similarity(h[i, t], h[j, t], dim=0, eps=eps).clamp(-1.0, 1.0)
                cos_sum[i, j] += w * c
                ang_sum[i, j] += w * torch.acos(c) / math.pi
    return BoundaryStats(cos_sum, ang_sum, norm_sum, update_sum, weight.double().sum())


@pytest.mark.parametrize("shape", [(4, 6, 9), (2, 1, 3), (5, 3, 17)])
def test_ref_matches_naive_loop(shape, residual_hidden, token_weights):
    hidden = residual_hidden(*shape, seed=sum(shape))
    weight = token_weights(shape[1], seed=sum(shape))
    naive = naive_boundary_stats(hidden, weight)
    exact = boundary_stats_ref(hidden, weight, compute_dtype=torch.float64)
    # Only the diagonal differs by definition: the ref makes cos(h, h) exactly 1 (float64 acos of
    # 1 - 1e-16 is ~1e-8, not 0), so compare the diagonal angle loosely and everything else tightly.
    off = ~torch.eye(shape[0], dtype=torch.bool)
    for name in ("cos_sum", "norm_sum", "update_sum", "weight_sum"):
        torch.testing.assert_close(getattr(exact, name), getattr(naive, name), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(exact.ang_sum[off], naive.ang_sum[off], rtol=1e-7, atol=1e-9)
    assert torch.all(exact.ang_sum.diagonal() == 0)
    assert torch.all(naive.ang_sum.diagonal().abs() < 1e-6)
    # The float32 reference (what the fallback runs) is within float32 tolerance of the definition
    # (angles looser: arccos amplifies cosine rounding for nearly parallel states).
    ref32 = boundary_stats_ref(hidden, weight)
    for name, got, want in zip(BoundaryStats._fields, ref32, naive, strict=True):
        rtol = 2e-3 if name == "ang_sum" else 1e-5
        torch.testing.assert_close(got, want, rtol=rtol, atol=1e-6, msg=lambda m, n=name: f"{n}: {m}")


def test_ref_streams_tokens_in_chunks(residual_hidden, token_weights):
    hidden = residual_hidden(3, 50, 8, seed=3)
    weight = token_weights(50, seed=3)
    whole = boundary_stats_ref(hidden, weight, compute_dtype=torch.float64, token_chunk=1000)
    chunked = boundary_stats_ref(hidden, weight, compute_dtype=torch.float64, token_chunk=7)
    for a, b in zip(whole, chunked, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_ref_zero_tokens_gives_zero_sums():
    stats = boundary_stats_ref(torch.randn(3, 0, 4), torch.ones(0))
    assert all(torch.count_nonzero(field) == 0 for field in stats)
    assert stats.cos_sum.shape == (3, 3) and stats.update_sum.shape == (2,) and stats.weight_sum.shape == ()
