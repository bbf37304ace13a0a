"""Generation engines, below the stages: the built-in ``GenerationEngine`` (``engines.native``: continuous
batching over a static KV cache, fused sampling) and a vLLM OpenAI-compatible server (started, watched and
stopped here, or reused) with its completions client and ``VLLMEngine``, which gives the server the same
``stream``/``generate`` interface. Both take ``GenerationRequest`` and return ``GenerationResult``
(``engines.request_types``; not ``types``: scripts in this folder run with it on sys.path, where that
name would shadow the standard library).

Only the request types are imported here; ``GenerationEngine`` resolves on first use so that
``fastprune --help`` (whose stage CLIs import ``fastprune.engines.vllm_session``) does not pay for torch
and transformers, and nothing here imports vLLM.
"""

from fastprune.engines.request_types import GenerationRequest, GenerationResult, SamplingParams

__all__ = ["GenerationEngine", "GenerationRequest", "GenerationResult", "SamplingParams"]


def __getattr__(name: str):
    if name == "GenerationEngine":
        from fastprune.engines.native.engine import GenerationEngine

        return GenerationEngine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
