"""Backend names, and how a backend says whether (and why not) it can run."""

from __future__ import annotations

from dataclasses import dataclass

from fastprune.errors import FastpruneError

BACKENDS = ("torch", "triton", "native")
ENV_VAR = "FASTPRUNE_BACKEND"


class BackendUnavailableError(FastpruneError, RuntimeError):
    """An explicitly requested backend cannot run here; the message names the backend and the reason."""


class UnknownBackendError(FastpruneError, ValueError):
    """The backend argument or FASTPRUNE_BACKEND names no backend."""


@dataclass(frozen=True)
class Availability:
    ok: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.ok


AVAILABLE = Availability(True)
