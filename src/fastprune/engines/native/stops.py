"""Per-request decoding state and the three ways a request ends: EOS id, stop string, max tokens."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastprune.engines.request_types import GenerationRequest, GenerationResult


@dataclass
class ActiveSequence:
    """A request occupying a batch slot: its generated ids and, once decided, why it stopped."""

    index: int  # position in the caller's request list
    request: GenerationRequest
    seed: int
    stop_ids: frozenset[int]
    max_total: int  # prompt + generated may not exceed the cache length
    generated: list[int] = field(default_factory=list)
    finish_reason: str | None = None
    stop_at: int | None = None  # character offset of the first stop string in the decoded text
    _checked_chars: int = 0

    @property
    def position(self) -> int:
        """Position (= cache index) of the last token, which the next decode step feeds in."""
        return len(self.request.prompt_ids) + len(self.generated) - 1

    def append(self, token: int, tokenizer) -> bool:
        """Add a sampled token; return True when the request is finished."""
        self.generated.append(token)
        params = self.request.sampling
        if token in self.stop_ids:
            self.finish_reason = "eos"
        elif params.stop_strings and self._hit_stop_string(tokenizer):
            self.finish_reason = "stop_string"
        elif len(self.generated) >= params.max_new_tokens or \
                len(self.request.prompt_ids) + len(self.generated) >= self.max_total:
            self.finish_reason = "length"
        return self.finish_reason is not None

    def _hit_stop_string(self, tokenizer) -> bool:
        # Decoding the whole response each step keeps multi-byte characters and merges right; only the
        # text from just before the previous end is searched, so each step's search is short.
        text = tokenizer.decode(self.generated, skip_special_tokens=True)
        longest = max(len(s) for s in self.request.sampling.stop_strings)
        start = max(0, self._checked_chars - longest + 1)
        hits = [i for s in self.request.sampling.stop_strings if (i := text.find(s, start)) >= 0]
        self._checked_chars = len(text)
        if hits:
            self.stop_at = min(hits)
            return True
        return False

    def result(self, tokenizer) -> GenerationResult:
        ids = self.generated
        text = ""
        if tokenizer is not None:
            body = ids[:-1] if self.finish_reason == "eos" else ids
            text = tokenizer.decode(body, skip_special_tokens=True)
            if self.stop_at is not None:
                text = text[: self.stop_at]
        return GenerationResult(
            id=self.request.id, prompt_ids=list(self.request.prompt_ids), token_ids=list(ids), text=text,
            finish_reason=self.finish_reason, num_tokens=len(ids),
        )
