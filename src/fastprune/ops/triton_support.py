"""Whether Triton can run kernels for a device, without importing it at ``import fastprune.ops``."""

from __future__ import annotations

import functools
import importlib
import os

import torch

from .availability import AVAILABLE, Availability


@functools.cache
def _import_error() -> str | None:
    try:
        importlib.import_module("triton")
    except Exception as err:  # a broken Triton install raises more than ImportError
        return f"{type(err).__name__}: {err}"
    return None


def interpreter_enabled() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def availability(device: torch.device) -> Availability:
    if device.type not in ("cuda", "cpu"):
        return Availability(False, f"Triton kernels run on CUDA devices, not {device.type}")
    if device.type == "cpu" and not interpreter_enabled():
        return Availability(False, "Triton runs on CPU only through its interpreter (set TRITON_INTERPRET=1)")
    error = _import_error()
    if error is not None:
        return Availability(False, f"triton is not importable ({error}); install it with pip install triton")
    return AVAILABLE
