"""Lazy access to the compiled modules ``fastprune._native_cpu`` and ``fastprune._native_cuda``.

A module is imported on first use, never at ``import fastprune.ops``: the CUDA one only when a CUDA tensor
reaches a native op or someone asks for build info. Import failures are remembered with their reason, so
the dispatcher can fall back quietly (auto) or explain itself (explicit backend).
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
from types import ModuleType
from typing import Any

import torch

from .availability import AVAILABLE, Availability, BackendUnavailableError

MODULES = {"cpu": "fastprune._native_cpu", "cuda": "fastprune._native_cuda"}

# Element type codes shared with csrc/common/dtype.h.
DTYPE_CODES = {torch.float32: 0, torch.bfloat16: 1, torch.float16: 2}

_REBUILD = {
    "cpu": "reinstall with a C++17 compiler: pip install --no-build-isolation -e .",
    "cuda": (
        "reinstall with the CUDA toolkit's nvcc on PATH (or CUDACXX set): pip install --no-build-isolation -e . "
        "(FASTPRUNE_CUDA_ARCHS selects the GPU architectures, default '80;90')"
    ),
}


@functools.cache
def _load(device_type: str) -> tuple[ModuleType | None, str | None, bool]:
    """(module, error, built): built is False when no compiled module exists at all."""
    name = MODULES[device_type]
    try:
        spec = importlib.util.find_spec(name)
    except ImportError as err:  # the parent package itself is broken
        return None, f"{type(err).__name__}: {err}", False
    if spec is None:
        return None, f"{name} is not built", False
    try:
        return importlib.import_module(name), None, True
    except ImportError as err:  # built, but cannot load here (ABI, missing shared library, ...)
        return None, f"{name} failed to load: {type(err).__name__}: {err}", True


def availability(device_type: str) -> Availability:
    if device_type not in MODULES:
        return Availability(False, f"no native module for device type {device_type!r}")
    module, error, _ = _load(device_type)
    return AVAILABLE if module is not None else Availability(False, f"{error}: {_REBUILD[device_type]}")


def require(device_type: str) -> ModuleType:
    """The native module for ``device_type``; raises BackendUnavailableError saying how to get it."""
    found = availability(device_type)
    if not found:
        raise BackendUnavailableError(f"native backend unavailable on {device_type}: {found.reason}")
    module, _, _ = _load(device_type)
    assert module is not None
    return module


def native_build_info() -> dict[str, dict[str, Any]]:
    """What ``fastprune env --json`` reports about the compiled modules.

    ``{"cpu": {...}, "cuda": {...}}``, each with ``built`` (bool), ``loaded`` (bool), ``path``, ``error``
    and, when loaded, the module's own ``build_info()`` (compiler, openmp, ISAs for cpu; nvcc, ``archs``,
    cudart for cuda). Importing the CUDA module does not initialise CUDA.
    """
    info: dict[str, dict[str, Any]] = {}
    for device_type in MODULES:
        module, error, built = _load(device_type)
        entry: dict[str, Any] = {"built": built, "loaded": module is not None, "path": None, "error": error}
        if module is not None:
            entry["path"] = getattr(module, "__file__", None)
            entry.update(module.build_info())
        info[device_type] = entry
    return info
