"""``ppl``: perplexity of a text file with a sliding window (the HF "strided" recipe).

Windows of ``max_length`` tokens advance by ``stride`` tokens; each window scores only the tokens the
previous one did not, so every token after the first is scored exactly once, with at least
``max_length - stride`` tokens of context. Windows are batched (right-padded, masked).
The interval of ppl is a bootstrap over windows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from fastprune.errors import FastpruneError
from fastprune.evaluate.datafiles import local_data_file
from fastprune.evaluate.task import ItemMetric, Task, TaskInfo, TaskResult
from fastprune.options import option


@dataclass
class PerplexityOptions:
    file: Path | None = option(None, help="text file for ppl (default: WikiText-2 test)")
    max_length: int = option(1024, help="ppl window length in tokens")
    stride: int = option(512, help="ppl window stride in tokens")


def windows(num_tokens: int, max_length: int, stride: int) -> list[tuple[int, int, int]]:
    """``(begin, end, first_scored)``: window [begin, end) scores the targets in [first_scored, end).

    Position 0 has no context and is never scored; every other position is scored by exactly one window.
    The first window scores ``max_length - 1`` tokens, each later one ``stride`` tokens (at most
    ``max_length - 1``, so its first target keeps at least one token of context).
    """
    if max_length < 2 or stride < 1:
        raise FastpruneError(f"need a window of >= 2 tokens and a stride >= 1; got max_length={max_length}, "
                             f"stride={stride}")
    step = min(stride, max_length - 1)
    out, first, end = [], 1, min(max_length, num_tokens)
    while first < num_tokens:
        out.append((max(0, end - max_length), end, first))
        first, end = end, min(end + step, num_tokens)
    return out


def token_nlls(
    lm, ids: list[int], max_length: int, stride: int, limit: int | None = None
) -> tuple[float, int]:
    """(total negative log-likelihood, number of scored tokens) of ``ids``; ``limit`` caps the windows."""
    per_window = window_nlls(lm, ids, max_length, stride, limit)
    return sum(w[1] for w in per_window), sum(w[2] for w in per_window)


def window_nlls(
    lm, ids: list[int], max_length: int, stride: int, limit: int | None = None
) -> list[tuple[tuple[int, int, int], float, int]]:
    """Per window: ((begin, end, first_scored), summed nll, scored tokens); the items of the ppl interval."""
    import torch  # here, not at import: building the CLI must not load torch

    spans = windows(len(ids), max_length, stride)[: limit if limit is not None else None]
    out = []
    for i in range(0, len(spans), lm.batch_size):
        batch = spans[i : i + lm.batch_size]
        logits = lm._forward([ids[b:e] for b, e, _ in batch])
        for row, (b, e, first) in enumerate(batch):
            # logits at position p predict token p + 1 (both relative to the window start)
            pred = logits[row, first - b - 1 : e - b - 1].float()
            target = torch.tensor(ids[first:e], device=pred.device)
            out.append(((b, e, first), torch.nn.functional.cross_entropy(pred, target, reduction="sum").item(),
                        e - first))
    return out


class PerplexityTask(Task):
    name = "ppl"
    info = TaskInfo("loglikelihood-perplexity", "ppl", "perplexity of a text file (WikiText-2 test by default), "
                    "sliding window", higher_is_better=False)
    option_groups: ClassVar[dict[str, type]] = {"ppl": PerplexityOptions}

    def __init__(self, options):
        super().__init__(options)
        own = options.ppl
        path = own.file or local_data_file(options.data_dir, "wikitext2/test.txt")
        if path is None:
            raise FastpruneError("no text for ppl: WikiText-2 (wikitext2/test.txt) is not in the shared data "
                                 "folder; give a text file with --ppl-file")
        self.path = Path(path)
        if not self.path.is_file():
            raise FastpruneError(f"--ppl-file {self.path} does not exist")
        self.max_length, self.stride = own.max_length, own.stride
        windows(10, self.max_length, self.stride)  # validate early

    def run(self, lm, limit: int | None, seed: int) -> TaskResult:
        text = self.path.read_text(encoding="utf-8")
        ids = lm.encode(text)
        if len(ids) < 2:
            raise FastpruneError(f"{self.path} has fewer than two tokens; perplexity needs text")
        max_length = min(self.max_length, lm.max_seq_len)
        stride = min(self.stride, max_length)
        per_window = window_nlls(lm, ids, max_length, stride, limit)
        count = sum(w[2] for w in per_window)
        mean_nll = sum(w[1] for w in per_window) / count
        metrics = {"ppl": math.exp(mean_nll), "nll": mean_nll, "tokens": float(count)}
        # one record per window: tokens within a window are correlated, windows nearly independent, so the
        # interval resamples windows (a block bootstrap) rather than tokens
        samples = [{"id": f"{b}-{e}", "file": str(self.path), "begin": b, "end": e, "first_scored": first,
                    "nll_sum": nll, "tokens": n, "max_length": max_length, "stride": stride}
                   for (b, e, first), nll, n in per_window]
        return TaskResult(metrics, count, samples, primary=self.info.primary,
                          higher_is_better=self.info.higher_is_better,
                          item_metrics={"ppl": ItemMetric("nll_sum", "ppl", weight="tokens")})
