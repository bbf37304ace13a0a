"""``boundary_stats``: similarity statistics between the hidden states at every pair of layer boundaries,
accumulated over tokens in one pass (the calibration stage calls it once per batch)."""

from __future__ import annotations

import torch

from ._boundary_stats_ops import boundary_stats_cpu, boundary_stats_cuda, boundary_stats_triton
from .boundary_stats_ref import boundary_stats_ref
from .boundary_stats_types import BoundaryStats, unpack
from .dispatch import resolve_backend
from .plan import OpPlan, choose

SUPPORTED_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


def _validated(hidden: torch.Tensor, weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(hidden, torch.Tensor) or not isinstance(weight, torch.Tensor):
        raise TypeError("boundary_stats: hidden and weight must be torch.Tensors")
    if hidden.dim() != 3:
        raise ValueError(f"boundary_stats: hidden must be [K, N, D], got shape {tuple(hidden.shape)}")
    k, n, d = hidden.shape
    if k < 2:
        raise ValueError(f"boundary_stats: need K >= 2 layer boundaries, got K={k}")
    if d < 1:
        raise ValueError("boundary_stats: hidden size D must be >= 1")
    if hidden.dtype not in SUPPORTED_DTYPES:
        raise TypeError(f"boundary_stats: hidden dtype {hidden.dtype} unsupported; use float32, bfloat16 or float16")
    if weight.dim() != 1 or weight.shape[0] != n:
        raise ValueError(f"boundary_stats: weight must be [N] = [{n}], got shape {tuple(weight.shape)}")
    if weight.device != hidden.device:
        raise ValueError(f"boundary_stats: weight is on {weight.device} but hidden is on {hidden.device}")
    if weight.is_complex():
        raise TypeError("boundary_stats: weight must be real")
    # Kernels index D with unit stride; K and N may be strided (e.g. a slice of a larger buffer).
    if hidden.stride(-1) != 1:
        hidden = hidden.contiguous()
    return hidden, weight.to(torch.float32).contiguous()


def _backend_for(device: torch.device, backend: str | None) -> str:
    return resolve_backend(device, backend, op="boundary_stats")


# The choice depends on the environment and on which modules are built, never on tensor values, so under
# torch.compile it is made once at trace time instead of tracing the dispatcher (importlib and all).
# torch.compiler.assume_constant_result would set exactly this flag, but importing it loads torch._dynamo
# and Triton (seconds) at `import fastprune.ops`. test_compiles_without_graph_breaks guards the name.
_backend_for._dynamo_marked_constant = True  # type: ignore[attr-defined]


def boundary_stats(hidden: torch.Tensor, weight: torch.Tensor, backend: str | None = None) -> BoundaryStats:
    """Weighted per-token statistics of K boundary hidden states, summed over N tokens.

    Args:
        hidden: ``[K, N, D]`` float32, bfloat16 or float16; hidden[k, t] is the state after k layers
            (boundary 0 = embeddings) for token t. Any strides for K and N; D is made contiguous if needed.
            Math is float32 (16-bit inputs are upcast on load); D may be any size.
        weight: ``[N]`` per-token weight on hidden's device (1.0 counted, 0.0 padding); converted to float32.
            A zero weight multiplies, it does not skip: NaN hidden states still poison the sums.
        backend: ``None`` (use ``FASTPRUNE_BACKEND``, default ``"auto"``), ``"auto"``, ``"torch"``,
            ``"triton"`` or ``"native"``. An explicit backend that cannot run raises
            :class:`~fastprune.ops.BackendUnavailableError`.

    Returns:
        :class:`~fastprune.ops.BoundaryStats` of float64 tensors on hidden's device: ``cos_sum [K, K]``,
        ``ang_sum [K, K]`` (arccos(cos)/pi), ``norm_sum [K]``, ``update_sum [K-1]``
        (|h_k+1 - h_k| / max(|h_k|, 1e-8)) and ``weight_sum []``, each sum_t w_t * x_t. NaN or inf in
        hidden makes the entries of the affected boundaries NaN (it never raises).
    """
    hidden, weight = _validated(hidden, weight)
    return _run(_backend_for(hidden.device, backend), hidden, weight)


def _run(name: str, hidden: torch.Tensor, weight: torch.Tensor) -> BoundaryStats:
    if name == "torch":
        return boundary_stats_ref(hidden, weight)
    if name == "triton":
        packed = boundary_stats_triton(hidden, weight)
    elif hidden.device.type == "cuda":
        packed = boundary_stats_cuda(hidden, weight)
    else:
        packed = boundary_stats_cpu(hidden, weight)
    return unpack(packed, hidden.shape[0])


class BoundaryStatsPlan(OpPlan):
    """``boundary_stats`` with its backend chosen: ``plan(hidden, weight)``, inputs validated per call."""

    def __call__(self, hidden: torch.Tensor, weight: torch.Tensor) -> BoundaryStats:
        hidden, weight = _validated(hidden, weight)
        return _run(self.backend, hidden, weight)


def boundary_stats_plan(device: torch.device | str, backend: str | None = None) -> BoundaryStatsPlan:
    """The plan for hidden states on ``device`` (the calibration loop calls it once per batch)."""
    return BoundaryStatsPlan(choose("boundary_stats", device, backend))
