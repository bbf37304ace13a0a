"""Pure-torch ``boundary_stats``: the readable definition, the test oracle and the fallback backend."""

from __future__ import annotations

import math

import torch

from .boundary_stats_types import BoundaryStats

EPS = 1e-8


def boundary_stats_ref(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    *,
    eps: float = EPS,
    compute_dtype: torch.dtype = torch.float32,
    token_chunk: int = 256,
) -> BoundaryStats:
    """Boundary statistics of ``hidden`` ``[K, N, D]`` weighted by ``weight`` ``[N]``.

    Per token t, with h_k = hidden[k, t] upcast to ``compute_dtype`` (float32 matches the kernels;
    float64 makes a more exact oracle):
    cos_ij = <h_i, h_j> / (max(|h_i|, eps) * max(|h_j|, eps)) clamped to [-1, 1] (on the diagonal
    computed as (|h_i| / max(|h_i|, eps))^2, i.e. exactly 1 for any non-tiny h), ang_ij = arccos(cos_ij)/pi,
    norm_k = |h_k|, update_k = |h_k+1 - h_k| / max(|h_k|, eps). Returns float64 weighted sums over t
    (:class:`BoundaryStats`). Tokens are processed ``token_chunk`` at a time, so memory stays at
    O(token_chunk * K * (K + D)) however large N is. NaN/inf inputs propagate into the affected entries.
    """
    k, n, _ = hidden.shape
    device = hidden.device
    w_all = weight.to(device=device, dtype=torch.float64)
    eye = torch.eye(k, dtype=torch.bool, device=device)
    cos_sum = torch.zeros((k, k), dtype=torch.float64, device=device)
    ang_sum = torch.zeros_like(cos_sum)
    norm_sum = torch.zeros(k, dtype=torch.float64, device=device)
    update_sum = torch.zeros(k - 1, dtype=torch.float64, device=device)

    for start in range(0, n, token_chunk):
        x = hidden[:, start : start + token_chunk].to(compute_dtype).transpose(0, 1)  # [n, K, D]
        w = w_all[start : start + token_chunk]
        norm = torch.linalg.vector_norm(x, dim=-1)  # [n, K]
        denom = norm.clamp_min(eps)
        cos = (x @ x.mT) / (denom[:, :, None] * denom[:, None, :])
        self_cos = (norm / denom).square()
        cos = torch.where(eye, self_cos[:, :, None], cos).clamp(-1.0, 1.0)
        ang = torch.acos(cos) / math.pi
        # The difference is taken directly: a Gram-based |a - b|^2 cancels for small updates.
        update = torch.linalg.vector_norm(x[:, 1:] - x[:, :-1], dim=-1) / denom[:, :-1]

        cos_sum += torch.einsum("t,tij->ij", w, cos.double())
        ang_sum += torch.einsum("t,tij->ij", w, ang.double())
        norm_sum += w @ norm.double()
        update_sum += w @ update.double()

    return BoundaryStats(cos_sum, ang_sum, norm_sum, update_sum, w_all.sum())
