"""Fixtures for kernel-op tests: residual-stream-like inputs and the tolerance rule for BoundaryStats."""

from __future__ import annotations

import pytest
import torch

from fastprune.ops import BoundaryStats, boundary_stats_ref

# Elementwise tolerance against the float32 reference on the same (upcast) data: (rtol, atol per unit
# of weight). Kernels upcast 16-bit inputs, so every dtype is held to float32-level accuracy; the 16-bit
# margin covers GPU MMA accumulation order (the design's ceiling for bf16 is 1e-2).
TOLERANCES = {
    torch.float32: (1e-5, 1e-6),
    torch.bfloat16: (1e-4, 1e-5),
    torch.float16: (1e-4, 1e-5),
}
# arccos amplifies cosine rounding by 1/sin(theta): for adjacent boundaries of a residual stream
# (theta ~ 0.02) a float32 cosine carries ~1e-3 relative angle error in any implementation, so angles
# get their own rtol. Accuracy against float64 is guarded separately (ACCURACY_SLACK below).
ANGLE_RTOL = 2e-3
# Against a float64 oracle a kernel may be at most 2x as wrong as the float32 torch reference
# (flash-attention's rule), plus this fraction of the field's magnitude ...
ACCURACY_SLACK = 1e-6
# ... and, for angles, this much per unit of weight: one float32 rounding of a near-parallel cosine
# (theta ~ 0.02 between adjacent boundaries) moves its angle by ~1e-6 / pi / theta, so with few tokens
# the reference's own error can be luckily small.
ANGLE_SLACK_PER_WEIGHT = 4e-6


def _residual_stream(
    k: int, n: int, d: int, dtype: torch.dtype = torch.float32, seed: int = 0, layout: str = "contiguous"
) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    # Per-token scales vary by 10x (real hidden-state norms do), and updates are ~2-20% of the
    # state, so adjacent boundaries are nearly parallel: the regime where Gram-based shortcuts fail.
    scale = torch.exp(torch.randn(n, 1, generator=gen))
    states = [torch.randn(n, d, generator=gen) * scale]
    for _ in range(k - 1):
        step = 0.02 + 0.18 * torch.rand((), generator=gen)
        states.append(states[-1] + step * scale * torch.randn(n, d, generator=gen))
    hidden = torch.stack(states).to(dtype)
    if layout == "token_major":  # [N, K, D] buffer viewed as [K, N, D]: stride_k = D, stride_n = K * D
        hidden = hidden.transpose(0, 1).contiguous().transpose(0, 1)
    elif layout == "sliced":  # every other token of a larger buffer: stride_n = 2 * D
        hidden = torch.repeat_interleave(hidden, 2, dim=1)[:, ::2]
    return hidden


@pytest.fixture
def residual_hidden():
    """Factory ``(k, n, d, dtype=float32, seed=0, layout="contiguous") -> hidden [K, N, D]``."""
    return _residual_stream


@pytest.fixture
def token_weights():
    """Factory ``(n, seed=0) -> weight [N]``: mostly 1, some 0 (padding), some 0.5; never all zero."""

    def make(n: int, seed: int = 0) -> torch.Tensor:
        gen = torch.Generator().manual_seed(seed + 1)
        u = torch.rand(n, generator=gen)
        weight = torch.where(u < 0.2, 0.0, torch.where(u < 0.3, 0.5, 1.0))
        weight[0] = 1.0
        return weight

    return make


@pytest.fixture
def assert_stats_close():
    """``(actual, hidden, weight)``: checks a backend's BoundaryStats for these inputs.

    1. elementwise against ``boundary_stats_ref`` (float32) on the upcast data, within TOLERANCES
       (ANGLE_RTOL for ang_sum), NaN where the reference has NaN;
    2. per field, max error against the float64 reference <= 2 x the float32 reference's max error
       + ACCURACY_SLACK x max |value| (+ ANGLE_SLACK_PER_WEIGHT x weight_sum for angles), finite entries.
    """

    def check(actual: BoundaryStats, hidden: torch.Tensor, weight: torch.Tensor) -> None:
        rtol, atol_per_weight = TOLERANCES[hidden.dtype]
        ref32 = boundary_stats_ref(hidden.float(), weight.float())
        truth = boundary_stats_ref(hidden.float(), weight.float(), compute_dtype=torch.float64)
        atol = atol_per_weight * max(float(truth.weight_sum), 1.0)
        for name, got, want, exact in zip(BoundaryStats._fields, actual, ref32, truth, strict=True):
            assert got.dtype == torch.float64 and got.device == hidden.device, name
            assert got.shape == want.shape, name
            got = got.cpu()
            field_rtol = ANGLE_RTOL if name == "ang_sum" else rtol
            torch.testing.assert_close(
                got, want, rtol=field_rtol, atol=atol, equal_nan=True, msg=lambda m, n=name: f"{n}: {m}"
            )
            finite = torch.isfinite(exact)
            if finite.any():
                kernel_err = (got[finite] - exact[finite]).abs().max()
                ref_err = (want[finite] - exact[finite]).abs().max()
                bound = 2 * ref_err + ACCURACY_SLACK * exact[finite].abs().max() + 1e-12
                if name == "ang_sum":
                    bound += ANGLE_SLACK_PER_WEIGHT * float(truth.weight_sum)
                assert kernel_err <= bound, f"{name}: error vs float64 {kernel_err:.3g} > {bound:.3g}"

    return check
