"""Running a callable under a given torch (and native kernel) thread count."""

from __future__ import annotations

import torch


def with_threads(n: int, fn):
    """``fn()`` with ``torch.set_num_threads(n)``; the previous count is restored afterwards."""
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(n)
        return fn()
    finally:
        torch.set_num_threads(previous)
