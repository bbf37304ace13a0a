"""Kernel ops: one public function per op, each dispatching to a pure-torch reference, a Triton kernel or
a native (C++/CUDA) kernel. See :mod:`fastprune.ops.dispatch` for how the backend is chosen. A loop that
calls an op many times builds its plan once (``*_plan``, :mod:`fastprune.ops.plan`): a callable with the
backend recorded as ``.backend``. The Triton and native kernels are ``torch.library`` custom ops
(``torch.ops.fastprune.*``) with fake implementations, so torch.compile and fake tensors see through them.
``decode_attention`` and ``skinny_linear`` are not re-exported here: the names are their modules'.

Importing this package touches neither CUDA nor Triton nor the compiled modules.
"""

from .availability import BACKENDS, ENV_VAR, BackendUnavailableError, UnknownBackendError
from .boundary_stats import boundary_stats, boundary_stats_plan
from .boundary_stats_ref import boundary_stats_ref
from .boundary_stats_types import BoundaryStats
from .decode_attention import decode_attention_plan, decode_attention_ref
from .dispatch import available_backends, resolve_backend
from .native import native_build_info
from .plan import Choice, OpPlan
from .sampling import filtered_probs_ref, sample, sample_plan, sample_ref, uniform_from_seeds
from .skinny_linear import (
    MAX_NATIVE_ROWS,
    Projection,
    RMSNormSpec,
    fused_linears,
    fused_linears_plan,
    fused_linears_ref,
    swiglu_linear,
)

__all__ = [
    "BACKENDS",
    "ENV_VAR",
    "MAX_NATIVE_ROWS",
    "BackendUnavailableError",
    "BoundaryStats",
    "Choice",
    "OpPlan",
    "Projection",
    "RMSNormSpec",
    "available_backends",
    "boundary_stats",
    "boundary_stats_plan",
    "boundary_stats_ref",
    "decode_attention_plan",
    "decode_attention_ref",
    "filtered_probs_ref",
    "fused_linears",
    "fused_linears_plan",
    "fused_linears_ref",
    "native_build_info",
    "resolve_backend",
    "sample",
    "sample_plan",
    "sample_ref",
    "swiglu_linear",
    "uniform_from_seeds",
    "UnknownBackendError",
]
