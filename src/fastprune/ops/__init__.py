"""Kernel ops: one public function per op, each dispatching to a pure-torch reference, a Triton kernel or
a native (C++/CUDA) kernel. See :mod:`fastprune.ops.dispatch` for how the backend is chosen.

Importing this package touches neither CUDA nor Triton nor the compiled modules.
"""

from .availability import BACKENDS, ENV_VAR, BackendUnavailableError, UnknownBackendError
from .boundary_stats import boundary_stats
from .boundary_stats_ref import boundary_stats_ref
from .boundary_stats_types import BoundaryStats
from .dispatch import available_backends, resolve_backend
from .native import native_build_info
from .sampling import filtered_probs_ref, sample, sample_ref, uniform_from_seeds

__all__ = [
    "BACKENDS",
    "ENV_VAR",
    "BackendUnavailableError",
    "BoundaryStats",
    "available_backends",
    "boundary_stats",
    "boundary_stats_ref",
    "filtered_probs_ref",
    "native_build_info",
    "resolve_backend",
    "sample",
    "sample_ref",
    "uniform_from_seeds",
    "UnknownBackendError",
]
