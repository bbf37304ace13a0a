"""Degeneration of generated text: Rep-n (share of repeated n-grams) and mean length.

A pruned model that has lost its reasoning often keeps talking: it loops on a phrase until the token
budget runs out. Rep-n catches that independently of whether the answer was right. Words (whitespace
split) rather than model tokens keep the number comparable across tokenizers.
"""

from __future__ import annotations

from collections.abc import Sequence


def rep_n(words: Sequence[str], n: int) -> float | None:
    """1 - distinct n-grams / n-grams of one text; None when it has fewer than ``n`` words."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    total = len(words) - n + 1
    if total <= 0:
        return None
    grams = {tuple(words[i : i + n]) for i in range(total)}
    return 1.0 - len(grams) / total


def degeneration_metrics(texts: Sequence[str], num_tokens: Sequence[int] | None = None) -> dict[str, float]:
    """Mean Rep-2/3/4 over the texts long enough to have such n-grams, mean length in words and tokens."""
    out: dict[str, float] = {}
    split = [t.split() for t in texts]
    for n in (2, 3, 4):
        values = [v for v in (rep_n(w, n) for w in split) if v is not None]
        out[f"rep{n}"] = sum(values) / len(values) if values else 0.0
    out["mean_len_words"] = sum(len(w) for w in split) / len(split) if split else 0.0
    if num_tokens is not None:
        out["mean_len_tokens"] = sum(num_tokens) / len(num_tokens) if num_tokens else 0.0
    return out
