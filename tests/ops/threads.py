"""Running a callable under a given torch (and native kernel) thread count."""

from __future__ import annotations

import torch

from fastprune.threads import apply_threads


def with_threads(n: int, fn):
    """``fn()`` with ``n`` threads for torch and the native pool (``fastprune.threads.apply_threads``, what
    ``--threads`` does); the previous count is restored afterwards."""
    previous = torch.get_num_threads()
    try:
        apply_threads(n)
        return fn()
    finally:
        apply_threads(previous)
