"""Greedy iterative layer removal: each round, score removing each remaining layer; drop the best.

The score is pluggable (``Scorer``): LM loss on a calibration sample here, a task score (accuracy on an
arithmetic or GSM8K sample) from the evaluation stage later. Lower scores are better to remove, so a task
scorer returns e.g. ``1 - accuracy``.

``LMLossScorer`` reuses the shared prefix: layers before a candidate ``l`` are the same for every candidate
at or after ``l``, so per round and batch it runs the current model once (recording each layer's input)
and runs each candidate only from its own layer on. A round costs about one forward plus L^2/2 layer calls
instead of L full forwards.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from tqdm.auto import tqdm

from fastprune.data.batching import fixed_length_batches
from fastprune.data.jsonl import read_jsonl
from fastprune.errors import FastpruneError
from fastprune.models.layer_runner import LayerRunner
from fastprune.models.loader import unwrap_model
from fastprune.models.surgery import temporarily_pruned

# (removed so far, candidate layers) -> score per candidate, lower = better to remove next. LMLossScorer and
# ModelScorer (any function of the pruned model, e.g. accuracy on a GSM8K sample) are the two shipped.
Scorer = Callable[[frozenset, list], dict]


def read_calibration_text(path: str | Path, max_chars: int | None = None) -> str:
    """Plain text, or JSONL with a ``text`` field per line; at most ``max_chars`` characters."""
    path = Path(path)
    if not path.is_file():
        raise FastpruneError(f"calibration data {path} not found; give a text file with --calib-data")
    if path.suffix == ".jsonl":
        pieces, size = [], 0
        invalid = "{path}:{line}: expected a JSON object with a 'text' field"
        for number, record in read_jsonl(path, invalid):
            try:
                text = record["text"]
            except (KeyError, TypeError) as exc:
                raise FastpruneError(invalid.format(path=path, line=number)) from exc
            pieces.append(text)
            size += len(text)
            if max_chars is not None and size >= max_chars:
                break
        return "\n\n".join(pieces)
    with path.open(encoding="utf-8") as f:
        return f.read(max_chars if max_chars is not None else -1)


def calibration_batches(tokenizer, path, samples: int, seq_len: int, batch_size: int = 4, device="cpu"):
    """Concatenate the text, tokenize, cut ``samples`` chunks of ``seq_len`` tokens, batch them.

    Chunks are full-length, so batches need no padding; the mask is all ones.
    """
    if samples < 1 or seq_len < 2 or batch_size < 1:
        raise FastpruneError("--calib-samples and --batch-size must be >= 1 and --seq-len >= 2")
    need = samples * seq_len
    # A token is rarely longer than 12 characters; read the whole file only if that estimate falls short.
    text = read_calibration_text(path, max_chars=need * 12)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if len(ids) < need:
        text = read_calibration_text(path)
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if len(ids) < need:
        raise FastpruneError(
            f"{path} has {len(ids)} tokens; {samples} samples x {seq_len} tokens need {need}. "
            "Lower --calib-samples or --seq-len, or use a longer file"
        )
    batches = fixed_length_batches(ids, samples, seq_len, batch_size)
    return [(chunk.to(device), mask.to(device)) for chunk, mask in batches]


class LMLossScorer:
    """Mean next-token loss over calibration batches of the model with ``removed | {candidate}`` skipped."""

    def __init__(self, runner: LayerRunner, batches: list, progress: bool = True):
        if not batches:
            raise FastpruneError("the LM-loss scorer needs at least one calibration batch")
        self.runner = runner
        self.batches = batches
        self.progress = progress

    def __call__(self, removed: frozenset, candidates: list) -> dict:
        sums = dict.fromkeys(candidates, 0.0)
        count = 0
        bar = tqdm(
            total=len(self.batches) * len(candidates), desc=f"iterative: {len(removed)} removed",
            file=sys.stderr, disable=not self.progress, leave=False,
        )
        for input_ids, mask in self.batches:
            trace = self.runner.capture(input_ids, mask)
            inputs = self.runner.inputs_with_skip(trace, removed)
            for layer in candidates:
                hidden = self.runner.run_layers(trace, layer, inputs[layer], skip=removed | {layer})
                total, n = self.runner.lm_loss(hidden, trace.input_ids, trace.attention_mask, reduction="sum")
                sums[layer] += total
                bar.update()
            count += n
            del trace, inputs
        bar.close()
        return {layer: sums[layer] / count for layer in candidates}


class ModelScorer:
    """Score each candidate by a function of the whole pruned model, e.g. task accuracy with generation.

    ``score_fn(model) -> float`` runs on ``model`` temporarily pruned to ``removed | {candidate}`` (in place,
    restored afterwards, KV cache correct). With ``higher_is_better`` (accuracy) the score is negated, so
    the search still removes the candidate with the lowest returned value.
    """

    def __init__(self, model, score_fn: Callable, higher_is_better: bool = True, progress: bool = True):
        self.model = unwrap_model(model, "ModelScorer")
        self.score_fn = score_fn
        self.sign = -1.0 if higher_is_better else 1.0
        self.progress = progress

    def __call__(self, removed: frozenset, candidates: list) -> dict:
        scores = {}
        bar = tqdm(candidates, desc=f"iterative: {len(removed)} removed", file=sys.stderr,
                   disable=not self.progress, leave=False)
        for layer in bar:
            with temporarily_pruned(self.model, sorted(removed | {layer})):
                scores[layer] = self.sign * float(self.score_fn(self.model))
        return scores


def iterative_select(
    num_layers: int,
    n: int,
    scorer: Scorer,
    allow_first: bool = False,
) -> tuple[list[int], list[dict]]:
    """Remove ``n`` layers greedily with ``scorer``; returns (removed sorted, per-round history).

    Layer 0 is never a candidate unless ``allow_first``: it turns token embeddings into the representation
    every later layer expects, and removing it wrecks most models however small its local score looks.
    """
    lowest = 0 if allow_first else 1
    available = num_layers - lowest
    if not 1 <= n < num_layers or n > available:
        raise FastpruneError(
            f"iterative can remove between 1 and {min(available, num_layers - 1)} of {num_layers} layers"
            f"{'' if allow_first else ' (layer 0 is protected; --allow-first lifts that)'}, not {n}"
        )
    removed: frozenset[int] = frozenset()
    history = []
    for round_index in range(n):
        candidates = [i for i in range(lowest, num_layers) if i not in removed]
        scores = scorer(removed, candidates)
        missing = [c for c in candidates if c not in scores]
        if missing:
            raise FastpruneError(f"scorer returned no score for candidate layers {missing}")
        best = min(candidates, key=lambda c: (scores[c], c))
        removed = removed | {best}
        history.append({
            "round": round_index + 1,
            "removed": best,
            "score": float(scores[best]),
            "scores": {str(c): float(scores[c]) for c in candidates},
        })
    return sorted(removed), history
