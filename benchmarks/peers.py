"""Peer engines the generation benchmark compares against when they are installed, and why one is skipped.

A peer can be measured only when its package imports; the result JSON and the printed output say when it
was skipped and why, so a missing number is never mistaken for a bad one. llama.cpp (``llama-cpp-python``)
builds from source and is optional; vLLM comes with the vLLM engine client.
"""

from __future__ import annotations

import importlib.util

PEERS = {
    "llama.cpp": ("llama_cpp", "llama-cpp-python is not installed (it builds llama.cpp from source: "
                  "pip install llama-cpp-python)"),
    "vllm": ("vllm", "vllm is not installed (pip install vllm; needs a CUDA device)"),
}


def peer_status() -> dict[str, dict]:
    """``{peer: {"installed": bool, "skipped": reason or None}}`` for every known peer."""
    out = {}
    for name, (module, missing) in PEERS.items():
        installed = importlib.util.find_spec(module) is not None
        # Installed or not, no runner is wired yet: neither package could be installed where this was written,
        # and an untested runner would be a number nobody checked. Say which case it is.
        out[name] = {"installed": installed,
                     "skipped": "installed, but no runner for it is wired into the benchmarks yet" if installed
                     else missing}
    return out


def skipped_lines(status: dict[str, dict]) -> list[str]:
    return [f"peer {name}: skipped: {info['skipped']}" for name, info in status.items() if info["skipped"]]
