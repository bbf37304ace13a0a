"""The result type of ``boundary_stats`` and the packed float64 layout the kernels write."""

from __future__ import annotations

from typing import NamedTuple

import torch


class BoundaryStats(NamedTuple):
    """Weighted sums over tokens t of per-token statistics of K layer-boundary hidden states.

    All float64, on the device of the hidden states; divide by ``weight_sum`` for means.

    - ``cos_sum``    ``[K, K]`` sum_t w_t * cos(h_i,t, h_j,t) (symmetric, diagonal = weight_sum)
    - ``ang_sum``    ``[K, K]`` sum_t w_t * arccos(cos) / pi  (angular distance in [0, 1], diagonal 0)
    - ``norm_sum``   ``[K]``    sum_t w_t * |h_k,t|
    - ``update_sum`` ``[K-1]``  sum_t w_t * |h_k+1,t - h_k,t| / max(|h_k,t|, eps)
    - ``weight_sum`` ``[]``     sum_t w_t
    """

    cos_sum: torch.Tensor
    ang_sum: torch.Tensor
    norm_sum: torch.Tensor
    update_sum: torch.Tensor
    weight_sum: torch.Tensor


def packed_size(k: int) -> int:
    """Length of the packed buffer: ``[cos K*K | ang K*K | norm K | update K-1 | weight 1]``."""
    return 2 * k * k + 2 * k


def unpack(packed: torch.Tensor, k: int) -> BoundaryStats:
    """Views of a packed ``[2*K*K + 2*K]`` float64 buffer (csrc/common/boundary_stats_layout.h)."""
    kk = k * k
    return BoundaryStats(
        cos_sum=packed[:kk].view(k, k),
        ang_sum=packed[kk : 2 * kk].view(k, k),
        norm_sum=packed[2 * kk : 2 * kk + k],
        update_sum=packed[2 * kk + k : 2 * kk + 2 * k - 1],
        weight_sum=packed[2 * kk + 2 * k - 1],
    )
