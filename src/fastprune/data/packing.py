"""Tokenised sequences from a text source: packed to a fixed length, or one padded example each.

The stream's ``position`` after any sequence is a small JSON-able record (documents read, tokens carried
over into the next packed sequence, counters); a stream built with that position continues exactly where
the first one stopped, which is how passes resume.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field

from fastprune.data.sources import TextSource
from fastprune.errors import FastpruneError

_TOKENIZE_CHUNK = 64  # documents tokenised per call: fast tokenizers are much quicker on lists


@dataclass
class StreamPosition:
    docs: int = 0  # documents consumed from the source (blank ones included)
    carry: list[int] = field(default_factory=list)  # packed mode: tokens read but not emitted yet
    sequences: int = 0  # sequences emitted
    tokens: int = 0  # real (non-pad) tokens emitted
    truncated: int = 0  # unpacked mode: examples cut to seq_len
    done: bool = False  # the source or --max-tokens is exhausted

    def to_dict(self) -> dict:
        # Taken after every batch: a shallow copy of the carry, not dataclasses.asdict's per-item deep copy.
        return {**vars(self), "carry": list(self.carry)}

    @classmethod
    def from_dict(cls, data: dict) -> StreamPosition:
        return cls(**{k: (list(v) if k == "carry" else v) for k, v in data.items()})


class SequenceStream:
    """Iterate token-id lists of at most ``seq_len`` tokens; ``position`` describes the state after the
    last one yielded.

    Packed: documents are joined with ``eos_id`` between them and cut into ``seq_len`` pieces (the tail
    of the corpus becomes one shorter sequence). Unpacked: one example per sequence, truncated to
    ``seq_len`` (counted in ``position.truncated``); empty examples are skipped.
    """

    def __init__(
        self,
        source: TextSource,
        tokenizer,
        seq_len: int,
        pack: bool = True,
        max_tokens: int | None = None,
        position: StreamPosition | None = None,
        add_special_tokens: bool = True,
    ):
        if seq_len < 1:
            raise FastpruneError(f"--seq-len must be at least 1, not {seq_len}")
        if max_tokens is not None and max_tokens < 1:
            raise FastpruneError(f"--max-tokens must be positive, not {max_tokens}")
        if tokenizer is None:
            raise FastpruneError("the model has no tokenizer; calibration needs one to read text")
        self.source, self.tokenizer, self.seq_len, self.pack = source, tokenizer, seq_len, pack
        self.max_tokens = max_tokens
        self.add_special_tokens = add_special_tokens
        self.position = position or StreamPosition()
        eos = tokenizer.eos_token_id
        if pack and eos is None:
            raise FastpruneError(
                "packing needs an EOS token between documents and the tokenizer has none; use --no-pack"
            )
        self.eos_id = eos

    def _token_lists(self) -> Iterator[list[int]]:
        chunk: list[str] = []
        with warnings.catch_warnings():
            # Long documents are expected here: they are cut below, not fed to the model whole.
            warnings.filterwarnings("ignore", message=".*sequence length is longer than.*")
            for text in self.source.documents(self.position.docs):
                chunk.append(text)
                if len(chunk) == _TOKENIZE_CHUNK:
                    yield from self._encode(chunk)
                    chunk = []
            if chunk:
                yield from self._encode(chunk)

    def _encode(self, texts: list[str]) -> list[list[int]]:
        enc = self.tokenizer(
            texts, add_special_tokens=self.add_special_tokens, truncation=False, verbose=False
        )["input_ids"]
        return [list(ids) for ids in enc]

    def _budget(self) -> int | None:
        return None if self.max_tokens is None else self.max_tokens - self.position.tokens

    def _emit(self, ids: list[int]) -> list[int]:
        budget = self._budget()
        if budget is not None and len(ids) >= budget:
            ids = ids[:budget]
            self.position.done = True
        self.position.sequences += 1
        self.position.tokens += len(ids)
        return ids

    def _drain(self, final: bool) -> Iterator[list[int]]:
        pos = self.position
        while len(pos.carry) >= self.seq_len or (final and pos.carry):
            # In place: a long document's carry is consumed without copying its remainder each time.
            seq = pos.carry[: self.seq_len]
            del pos.carry[: self.seq_len]
            yield self._emit(seq)
            if pos.done:
                return

    def __iter__(self) -> Iterator[list[int]]:
        pos = self.position
        if pos.done or (self._budget() is not None and self._budget() <= 0):
            pos.done = True
            return
        # A resumed stream may carry more than one sequence's worth of a long document: emit it first.
        yield from self._drain(final=False)
        if pos.done:
            return
        for ids in self._token_lists():
            pos.docs += 1
            if self.pack:
                pos.carry.extend(ids)
                pos.carry.append(self.eos_id)
                yield from self._drain(final=False)
            elif ids:
                if len(ids) > self.seq_len:
                    ids = ids[: self.seq_len]
                    pos.truncated += 1
                yield self._emit(ids)
            if pos.done:
                return
        # The corpus tail: shorter than seq_len, padded by the batcher rather than dropped.
        yield from self._drain(final=True)
        pos.done = True
