"""Choosing a backend for an op call: ``backend=`` argument, else ``FASTPRUNE_BACKEND``, else ``auto``.

``auto`` falls back quietly: CUDA tensors use Triton, else the native CUDA module, else torch; CPU tensors
use the native CPU module, else torch (never the Triton interpreter, which is a testing tool). An explicit
backend that cannot run raises :class:`BackendUnavailableError` naming the backend and the reason.
Generic over ops: an op passes the backends it implements.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch

from . import native, triton_support
from .availability import AVAILABLE, BACKENDS, ENV_VAR, Availability, BackendUnavailableError, UnknownBackendError

_AUTO_ORDER = {"cuda": ("triton", "native", "torch"), "cpu": ("native", "torch")}


def requested_backend(backend: str | None = None) -> tuple[str, str]:
    """(name, source): the backend asked for and where the request came from, for error messages."""
    if backend is not None:
        name, source = backend, f"backend={backend!r}"
    else:
        name = os.environ.get(ENV_VAR, "").strip() or "auto"
        source = f"{ENV_VAR}={name}" if ENV_VAR in os.environ else "auto"
    name = name.lower()
    if name != "auto" and name not in BACKENDS:
        raise UnknownBackendError(f"{source}: unknown backend {name!r}; choose one of auto, {', '.join(BACKENDS)}")
    return name, source


def backend_availability(name: str, device: torch.device | str) -> Availability:
    device = torch.device(device)
    if name == "torch":
        return AVAILABLE
    if name == "triton":
        return triton_support.availability(device)
    if name == "native":
        return native.availability(device.type)
    raise UnknownBackendError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")


def available_backends(device: torch.device | str = "cpu") -> list[str]:
    """Backends that can run on ``device`` now, in auto-preference order first.

    Asking about a CUDA device loads the native CUDA module and imports Triton (no CUDA context is made).
    """
    device = torch.device(device)
    order = _AUTO_ORDER.get(device.type, ("torch",))
    names = list(order) + [b for b in BACKENDS if b not in order]
    return [name for name in names if backend_availability(name, device)]


def resolve_backend(
    device: torch.device | str,
    backend: str | None = None,
    *,
    op: str,
    implemented: Sequence[str] = BACKENDS,
) -> str:
    """The backend to run ``op`` with on ``device``, honouring the argument, then the environment."""
    device = torch.device(device)
    name, source = requested_backend(backend)
    if name == "auto":
        for candidate in _AUTO_ORDER.get(device.type, ("torch",)):
            if candidate in implemented and backend_availability(candidate, device):
                return candidate
        return "torch"
    if name not in implemented:
        raise BackendUnavailableError(f"{source} requested but {op} has no {name} implementation")
    found = backend_availability(name, device)
    if not found:
        raise BackendUnavailableError(f"{source} requested for {op} on {device.type} but {found.reason}")
    return name
