"""Device and dtype names as users give them (``auto``, ``cuda:1``, ``bf16``), resolved in one place."""

from __future__ import annotations

import torch

from fastprune.errors import FastpruneError

DTYPES = {
    "float32": torch.float32, "fp32": torch.float32,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
    "float16": torch.float16, "fp16": torch.float16,
}


def resolve_device(device: str | torch.device | None, what: str = "device") -> torch.device:
    """``auto``/None: CUDA when there is a GPU, else the CPU; otherwise the named device, which must exist.

    ``what`` names the option in errors (e.g. ``--device``).
    """
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise FastpruneError(f"unknown {what} {device!r}; use auto, cpu or cuda[:N]") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise FastpruneError(f"{what} {device} requested but CUDA is not available on this machine")
    return resolved


def auto_dtype(device: torch.device) -> torch.dtype:
    """What ``auto`` means: bfloat16 on a GPU, float32 on the CPU (where bf16 matmuls are slow)."""
    return torch.bfloat16 if device.type == "cuda" else torch.float32


def parse_dtype(name: str, what: str = "dtype") -> torch.dtype:
    """The dtype called ``name`` (see ``DTYPES``); ``what`` names the option in the error."""
    if name not in DTYPES:
        raise FastpruneError(f"unknown {what} {name!r}; use one of {', '.join(sorted(DTYPES))} or auto")
    return DTYPES[name]


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype in (None, "auto"):
        return auto_dtype(device)
    return parse_dtype(dtype)
