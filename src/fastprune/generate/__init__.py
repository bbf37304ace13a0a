"""The ``generate`` stage: self-response datasets (prompts in, JSONL of the model's own answers out).

The engine the stage runs on lives below the stages, in ``fastprune.engines`` (``GenerationEngine``, the
request types, the vLLM engine).
"""

from __future__ import annotations

import importlib

from fastprune.generate.options import GenerateOptions, SelfResponseConfig

_EXPORTS = {
    "Prompt": "prompts", "load_prompts": "prompts",
    "pending_prompts": "self_responses", "run_self_responses": "self_responses",
}
__all__ = ["GenerateOptions", "Prompt", "SelfResponseConfig", "load_prompts", "pending_prompts", "run",
           "run_self_responses"]


def run(options: GenerateOptions) -> int:
    """The generate stage on ``options`` (what ``fastprune generate`` and ``fastprune run`` call)."""
    from fastprune.generate.cli import execute

    return execute(options)


def __getattr__(name: str):
    # Lazy: `fastprune --help` imports fastprune.generate.cli, which must stay light.
    if name not in _EXPORTS:
        raise AttributeError(f"module 'fastprune.generate' has no attribute {name!r}")
    return getattr(importlib.import_module(f"fastprune.generate.{_EXPORTS[name]}"), name)
