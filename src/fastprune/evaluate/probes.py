"""Shared plumbing of the generated probes (arith, parens): first-token scoring and metric helpers."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from fastprune.evaluate.degeneration import degeneration_metrics
from fastprune.evaluate.task import ItemMetric


def first_token_choice(lm, prompts: Sequence[list[int]], candidates: Sequence[str]) -> list[str]:
    """Which of ``candidates`` (short strings, e.g. digits) each prompt's next text most likely starts with.

    When every candidate tokenises to a shared prefix plus one distinct token (" " + "3" in digit-split
    vocabularies, " 3" in others) one forward per prompt reads the logits at the answer position. Otherwise
    each candidate's whole-continuation log-likelihood is summed from next-token log-probabilities, with
    one forward per distinct proper prefix of the candidates (two or three, shared by all candidates)
    instead of one per candidate.
    """
    encoded = [lm.encode(c) for c in candidates]
    if not all(encoded):
        raise ValueError(f"first_token_choice: a candidate encodes to no tokens: {list(candidates)!r}")
    prefix = encoded[0][:-1]
    single = all(e[:-1] == prefix for e in encoded) and len({e[-1] for e in encoded}) == len(encoded)
    if single:
        logprobs = lm.next_token_logprobs([list(p) + prefix for p in prompts])
        ids = [e[-1] for e in encoded]
        best = logprobs[:, ids].argmax(-1).tolist()
        return [candidates[i] for i in best]
    prefixes = sorted({tuple(e[:t]) for e in encoded for t in range(len(e))})
    table = {pre: lm.next_token_logprobs([list(p) + list(pre) for p in prompts]) for pre in prefixes}
    choices = []
    for i in range(len(prompts)):
        scores = [sum(float(table[tuple(e[:t])][i, e[t]]) for t in range(len(e))) for e in encoded]
        choices.append(candidates[max(range(len(candidates)), key=scores.__getitem__)])
    return choices


def grouped_accuracy(
    samples: Sequence[dict], key: str, field: str = "correct", name: str = "exact_match"
) -> dict[str, float]:
    """Mean of ``field`` per value of ``key`` (e.g. exact match per depth), named ``<name>/<value>``."""
    groups: dict[str, list[bool]] = defaultdict(list)
    for s in samples:
        groups[str(s[key])].append(bool(s[field]))
    return {f"{name}/{k}": sum(v) / len(v) for k, v in groups.items()}


def grouped_item_metrics(
    samples: Sequence[dict], key: str, field: str = "correct", name: str = "exact_match"
) -> dict[str, ItemMetric]:
    """The per-item definitions of ``grouped_accuracy``'s metrics (same names), for their intervals."""
    groups = dict.fromkeys(str(s[key]) for s in samples)
    return {f"{name}/{k}": ItemMetric(field, "proportion", group=(key, k)) for k in groups}


def generation_metrics(samples: Sequence[dict]) -> dict[str, float]:
    """Degeneration metrics of the ``generation`` field of every sample."""
    return degeneration_metrics([s["generation"] for s in samples], [s["num_tokens"] for s in samples])


def mean(values: Sequence[float | bool]) -> float:
    return sum(float(v) for v in values) / len(values) if values else 0.0
