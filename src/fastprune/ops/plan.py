"""Resolving an op's backend once, for a loop that calls the op many times with tensors of one kind.

``resolve_backend`` answers "which backend may run on this device"; an op's native kernel also has
conditions on its tensors (dtype, layout, ...). :func:`choose` combines both the same way for every op:
``auto`` falls back to torch quietly and records why, an explicit request that cannot be met raises
:class:`BackendUnavailableError` naming the request and the reason. Each op builds its plan (a callable
with ``.backend``) from a :class:`Choice`, so a decode loop resolves nothing per token.

Plans call the kernels' Python bodies directly in eager mode and the registered ``torch.library`` ops
under ``torch.compile`` (:func:`eager_or_op`): a Python custom op's dispatcher costs ~17 us a call for a
one-tensor op and ~56 us for one taking tensor lists (torch 2.13 on a shared 2-core machine, against ~2 us
for a plain Python function doing the same): at five calls per layer, 2.6-8.5 ms of SmolLM2's 24 ms step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from .availability import BACKENDS, BackendUnavailableError
from .dispatch import requested_backend, resolve_backend

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Choice:
    """The backend an op's calls run on, and how it was chosen."""

    op: str
    backend: str
    requested: str  # "auto" or the backend named by the argument / FASTPRUNE_BACKEND
    source: str  # where the request came from, e.g. "backend='native'" or "FASTPRUNE_BACKEND=torch"
    reason: str = ""  # why auto did not take the faster backend ("" when it did, or nothing faster exists)

    @property
    def explicit(self) -> bool:
        return self.requested != "auto"


def choose(op: str, device: torch.device | str, backend: str | None, *, implemented: Sequence[str] = BACKENDS,
           ineligible: Callable[[str], str | None] | None = None) -> Choice:
    """``resolve_backend``, then ``ineligible(name)`` (None, or why these tensors cannot take ``name``)."""
    requested, source = requested_backend(backend)
    name = resolve_backend(device, backend, op=op, implemented=implemented)
    reason = ineligible(name) if ineligible is not None and name != "torch" else None
    if reason is None:
        return Choice(op, name, requested, source)
    if requested != "auto":
        raise BackendUnavailableError(f"{source} requested for {op} but {reason}")
    logger.debug("%s: auto runs torch, not %s: %s", op, name, reason)
    return Choice(op, "torch", requested, source, reason)


def eager_or_op(body: Callable, op: Callable) -> Callable:
    """``op`` (the registered custom op) while torch.compile traces, else ``body`` (its Python function)."""
    is_compiling = torch.compiler.is_compiling

    def call(*args):
        return op(*args) if is_compiling() else body(*args)

    call.__name__ = getattr(body, "__name__", "call")
    return call


class OpPlan:
    """An op with its backend chosen once: subclasses are called like the op, without its checks."""

    def __init__(self, choice: Choice):
        self.choice = choice

    @property
    def backend(self) -> str:
        return self.choice.backend

    def __repr__(self) -> str:
        reason = f", reason={self.choice.reason!r}" if self.choice.reason else ""
        return f"{type(self).__name__}(backend={self.backend!r}, requested={self.choice.source!r}{reason})"
