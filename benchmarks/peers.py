"""Peer engines the generation benchmark compares against when they are present, and why one is skipped.

Two peers: vLLM (its own environment, ``make setup-vllm``; ``peer_vllm.py``) and llama.cpp through
``llama-cpp-python`` (it builds llama.cpp from source, so it is optional; ``peer_llama_cpp.py``). A peer
that is absent, not asked for or failed is listed with the reason in the result JSON and the printed
output, so a missing number is never mistaken for a bad one.

A peer's runner takes ``n`` and runs the benchmark's batch to exactly ``n`` new tokens per sequence,
returning a ``PeerRun``; ``check_run`` refuses a run whose lengths differ from what was asked.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from fastprune.errors import FastpruneError

REPO = Path(__file__).resolve().parents[1]
PEER_NAMES = ("vllm", "llama.cpp")
VLLM_PYTHON_ENV = "FASTPRUNE_VLLM_PYTHON"
DEFAULT_VLLM_PYTHON = REPO / ".venv-vllm" / "bin" / "python"
LLAMA_CPP_MISSING = ("llama-cpp-python is not installed (pip install llama-cpp-python; it builds llama.cpp "
                     "from source, which takes a while)")


class Peer:
    """A peer that starts on entering its ``with`` block and always closes: a failed start cleans up what it
    had begun (a half-started worker, an exported file). Subclasses define ``start``, ``generate`` and
    ``close``."""

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def runner(self, prompts: list[list[int]], sampling: dict | None = None, seeds: list[int] | None = None):
        """``fn(n) -> PeerRun`` for the benchmark's timing loop: the same prompts, ``n`` new tokens each."""
        return lambda n: self.generate(prompts, n, sampling, seeds)


@dataclass
class PeerRun:
    """One timed batch of a peer."""

    new_tokens: list[int]  # per sequence, as the peer reports them
    seconds: float | None = None  # timed inside the peer around its generate call; None: the caller times it
    token_ids: list[list[int]] | None = None
    prompt_ids_match: bool | None = None  # the peer echoed the prompt ids it ran: equal to the ones sent?


def check_run(name: str, run: PeerRun, batch: int, n: int) -> PeerRun:
    """``run`` unchanged when it produced exactly ``n`` tokens for each of ``batch`` sequences."""
    if len(run.new_tokens) != batch or any(t != n for t in run.new_tokens):
        raise FastpruneError(f"{name} produced {run.new_tokens} new tokens for {batch} sequences, not {n} each")
    if run.prompt_ids_match is False:
        raise FastpruneError(f"{name} ran prompt ids other than the ones sent")
    return run


def vllm_python(option: str | None = None) -> Path | None:
    """The vLLM environment's interpreter: ``option``, else ``$FASTPRUNE_VLLM_PYTHON``, else .venv-vllm."""
    chosen = option or os.environ.get(VLLM_PYTHON_ENV)
    path = Path(chosen).expanduser() if chosen else DEFAULT_VLLM_PYTHON
    return path if path.is_file() and os.access(path, os.X_OK) else None


def parse_peers(text: str) -> list[str]:
    names = [p.strip() for p in text.split(",") if p.strip() and p.strip() != "none"]
    unknown = [p for p in names if p not in PEER_NAMES]
    if unknown:
        raise FastpruneError(f"--peers {text!r}: unknown peer {unknown[0]!r}; choose from {', '.join(PEER_NAMES)} "
                             "or none")
    return names


def peer_status(wanted=PEER_NAMES, vllm_python_option: str | None = None) -> dict[str, dict]:
    """``{peer: {"installed": bool, "skipped": reason or None}}`` for every known peer, before any runs."""
    out = {}
    python = vllm_python(vllm_python_option)
    where = vllm_python_option or os.environ.get(VLLM_PYTHON_ENV) or DEFAULT_VLLM_PYTHON
    out["vllm"] = {"installed": python is not None, "python": None if python is None else str(python),
                   "skipped": None if python else f"no vLLM environment at {where} (run `make setup-vllm`, or pass "
                                                  f"--vllm-python PATH / set {VLLM_PYTHON_ENV})"}
    installed = importlib.util.find_spec("llama_cpp") is not None
    out["llama.cpp"] = {"installed": installed, "skipped": None if installed else LLAMA_CPP_MISSING}
    for name, info in out.items():
        if name not in wanted:  # the reason it did not run, installed or not ("installed" says which)
            info["skipped"] = "not asked for (--peers)"
    return out


def skipped_lines(status: dict[str, dict]) -> list[str]:
    return [f"peer {name}: skipped: {info['skipped']}" for name, info in status.items() if info.get("skipped")]
