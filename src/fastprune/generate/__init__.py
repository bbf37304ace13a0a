"""Fast batched generation (static KV cache, continuous batching, fused sampling) and self-responses.

``GenerationEngine`` is imported on first use so that ``fastprune --help`` (which imports
``fastprune.generate.cli``) does not pay for torch and transformers.
"""

from fastprune.generate.types import GenerationRequest, GenerationResult, SamplingParams

__all__ = ["GenerationEngine", "GenerationRequest", "GenerationResult", "SamplingParams"]


def __getattr__(name: str):
    if name == "GenerationEngine":
        from fastprune.generate.engine import GenerationEngine

        return GenerationEngine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
