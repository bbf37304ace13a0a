"""Degeneration of generated text: Rep-n (share of repeated n-grams), intra-response Self-BLEU-4 and
mean length.

A pruned model that has lost its reasoning often keeps talking: it loops on a phrase until the token
budget runs out. Rep-n catches that independently of whether the answer was right. Words (whitespace
split) rather than model tokens keep the number comparable across tokenizers. Self-BLEU-4 catches the
looser loop Rep-n misses: sentences that restate each other with small changes. As the paper computes
it, it is intra-response: each sentence of one response is scored with BLEU-4 against the response's
other sentences, and the response's Self-BLEU is the mean over its sentences (sacrebleu's sentence BLEU
with effective order, so short sentences are not zeroed by missing 4-grams).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

# a sentence ends at . ! ? (followed by space or the end) or at a line break
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def rep_n(words: Sequence[str], n: int) -> float | None:
    """1 - distinct n-grams / n-grams of one text; None when it has fewer than ``n`` words."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    total = len(words) - n + 1
    if total <= 0:
        return None
    grams = {tuple(words[i : i + n]) for i in range(total)}
    return 1.0 - len(grams) / total


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


@lru_cache(maxsize=1)
def _bleu():
    from sacrebleu.metrics import BLEU

    return BLEU(effective_order=True)


def self_bleu4(text: str) -> float | None:
    """Mean BLEU-4 (0..1) of each sentence against the response's other sentences; None below two."""
    parts = sentences(text)
    if len(parts) < 2:
        return None
    bleu = _bleu()
    scores = [bleu.sentence_score(h, parts[:i] + parts[i + 1 :]).score / 100 for i, h in enumerate(parts)]
    return sum(scores) / len(scores)


def degeneration_metrics(texts: Sequence[str], num_tokens: Sequence[int] | None = None) -> dict[str, float]:
    """Mean Rep-2/3/4 over the texts long enough to have such n-grams, mean Self-BLEU-4 over the texts of
    two or more sentences (and how many those were), mean length in words and tokens."""
    out: dict[str, float] = {}
    split = [t.split() for t in texts]
    for n in (2, 3, 4):
        values = [v for v in (rep_n(w, n) for w in split) if v is not None]
        out[f"rep{n}"] = sum(values) / len(values) if values else 0.0
    bleus = [v for v in (self_bleu4(t) for t in texts) if v is not None]
    out["self_bleu4"] = sum(bleus) / len(bleus) if bleus else 0.0
    out["self_bleu4_texts"] = float(len(bleus))
    out["mean_len_words"] = sum(len(w) for w in split) / len(split) if split else 0.0
    if num_tokens is not None:
        out["mean_len_tokens"] = sum(num_tokens) / len(num_tokens) if num_tokens else 0.0
    return out
