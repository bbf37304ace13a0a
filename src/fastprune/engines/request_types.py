"""The public request/result types of the generation engine, validated where they are built."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from fastprune.errors import FastpruneError

FinishReason = Literal["eos", "stop_string", "length"]


@dataclass(frozen=True)
class SamplingParams:
    """How one request is decoded.

    ``temperature=0`` is greedy (argmax). ``top_k=0`` and ``top_p=1`` disable those filters. ``seed`` makes a
    sampled request reproducible on its own: the same seed gives the same tokens whatever else is in the
    batch. The tokenizer's EOS ids are always added to ``stop_token_ids`` (unless ``ignore_eos``, which makes
    only ``max_new_tokens`` and stop strings end a request, for fixed-length benchmarks).
    """

    max_new_tokens: int = 256
    temperature: float = 0.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int | None = None
    stop_token_ids: tuple[int, ...] = ()
    stop_strings: tuple[str, ...] = ()
    ignore_eos: bool = False  # benchmarks: run to max_new_tokens whatever is sampled

    def __post_init__(self):
        if not isinstance(self.max_new_tokens, int) or self.max_new_tokens < 1:
            raise FastpruneError(f"max_new_tokens must be an integer >= 1, got {self.max_new_tokens!r}")
        if not self.temperature >= 0.0:
            raise FastpruneError(f"temperature must be >= 0 (0 means greedy), got {self.temperature!r}")
        if not isinstance(self.top_k, int) or self.top_k < 0:
            raise FastpruneError(f"top_k must be an integer >= 0 (0 disables it), got {self.top_k!r}")
        if not 0.0 < self.top_p <= 1.0:
            raise FastpruneError(f"top_p must be in (0, 1] (1 disables it), got {self.top_p!r}")
        if self.seed is not None and (not isinstance(self.seed, int) or self.seed < 0):
            raise FastpruneError(f"seed must be a non-negative integer or None, got {self.seed!r}")
        # Lists are accepted for convenience; store tuples so the params stay hashable and immutable.
        object.__setattr__(self, "stop_token_ids", tuple(int(t) for t in self.stop_token_ids))
        stops = (self.stop_strings,) if isinstance(self.stop_strings, str) else tuple(self.stop_strings)
        if any(not isinstance(s, str) or not s for s in stops):
            raise FastpruneError(f"stop_strings must be non-empty strings, got {stops!r}")
        object.__setattr__(self, "stop_strings", stops)

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0


@dataclass
class GenerationRequest:
    """One prompt (already tokenized) and how to decode it; ``id`` defaults to its index in the call."""

    prompt_ids: list[int]
    sampling: SamplingParams = field(default_factory=SamplingParams)
    id: str | None = None

    def __post_init__(self):
        ids = list(self.prompt_ids.tolist() if hasattr(self.prompt_ids, "tolist") else self.prompt_ids)
        if not ids:
            raise FastpruneError(f"request {self.id!r} has an empty prompt; give at least one token id")
        self.prompt_ids = [int(t) for t in ids]
        if not isinstance(self.sampling, SamplingParams):
            raise FastpruneError(f"request {self.id!r}: sampling must be a SamplingParams, got {self.sampling!r}")


@dataclass
class GenerationResult:
    """What one request produced.

    ``token_ids`` are all generated ids, including a final EOS id when ``finish_reason == "eos"`` (as HF
    ``generate`` returns them). ``text`` is their decoding without special tokens, cut before the first stop
    string when ``finish_reason == "stop_string"``. ``num_tokens == len(token_ids)``.
    """

    id: str
    prompt_ids: list[int]
    token_ids: list[int]
    text: str
    finish_reason: FinishReason
    num_tokens: int
