"""Fast batched generation (static KV cache, continuous batching, fused sampling) and self-responses.

``GenerationEngine`` is imported on first use so that ``fastprune --help`` (which imports
``fastprune.generate.cli``) does not pay for torch and transformers.
"""

from fastprune.generate.options import GenerateOptions, SelfResponseConfig
from fastprune.generate.types import GenerationRequest, GenerationResult, SamplingParams

__all__ = ["GenerateOptions", "GenerationEngine", "GenerationRequest", "GenerationResult", "SamplingParams",
           "SelfResponseConfig", "load_prompts", "run"]


def run(options: GenerateOptions) -> int:
    """The generate stage on ``options`` (what ``fastprune generate`` and ``fastprune run`` call)."""
    from fastprune.generate.cli import execute

    return execute(options)


def __getattr__(name: str):
    if name == "GenerationEngine":
        from fastprune.generate.engine import GenerationEngine

        return GenerationEngine
    if name == "load_prompts":  # fastprune.data (which it reads through) imports torch
        from fastprune.generate.prompts import load_prompts

        return load_prompts
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
