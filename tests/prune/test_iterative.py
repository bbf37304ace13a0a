"""Greedy iterative selection: search logic, the shared-prefix LM-loss scorer, calibration text."""

from __future__ import annotations

import json
import os

import pytest
import torch

from fastprune.errors import FastpruneError
from fastprune.models.layer_runner import LayerRunner
from fastprune.models.surgery import prune_model
from fastprune.prune.api import choose_layers
from fastprune.prune.iterative import LMLossScorer, ModelScorer, calibration_batches, iterative_select


class InteractingScorer:
    """Removing layer l costs base[l], plus a penalty when its neighbour is already gone."""

    def __init__(self, base):
        self.base = base
        self.calls = []

    def __call__(self, removed, candidates):
        self.calls.append((removed, list(candidates)))
        return {c: self.base[c] + (5.0 if (c - 1 in removed or c + 1 in removed) else 0.0) for c in candidates}


def test_greedy_order_protection_and_history():
    scorer = InteractingScorer([0.0, 1.0, 2.0, 1.5, 0.9, 3.0])
    removed, history = iterative_select(6, 3, scorer)
    # Round 1: layer 4 (0.9; layer 0 is protected). Round 2: 3 and 5 now carry the neighbour penalty -> 1.
    # Round 3: every candidate has a removed neighbour: 2 -> 7, 3 -> 6.5, 5 -> 8: 3 wins.
    assert [h["removed"] for h in history] == [4, 1, 3]
    assert removed == [1, 3, 4]
    assert all(0 not in cands for _, cands in scorer.calls)
    assert history[0]["scores"]["4"] == 0.9 and len(history[0]["scores"]) == 5
    assert iterative_select(6, 1, InteractingScorer([0.0, 1, 1, 1, 1, 1]), allow_first=True)[0] == [0]


def test_greedy_errors():
    with pytest.raises(FastpruneError, match="protected"):
        iterative_select(4, 4, InteractingScorer([0.0] * 4))
    with pytest.raises(FastpruneError, match="no score"):
        iterative_select(4, 1, lambda removed, cands: {cands[0]: 0.0})


def _naive_loss(model, removed, ids, mask):
    pruned = prune_model(model, sorted(removed), inplace=False)
    labels = ids.masked_fill(mask == 0, -100)
    with torch.no_grad():
        return float(pruned(input_ids=ids, attention_mask=mask, labels=labels).loss)


@pytest.mark.parametrize("family", ["qwen2", "gemma3"])
def test_lm_loss_scorer_matches_deleting_layers(tiny, family):
    loaded = tiny(family, layers=5)
    g = torch.Generator().manual_seed(0)
    batches = [(torch.randint(0, 256, (2, 24), generator=g), torch.ones(2, 24, dtype=torch.long)) for _ in range(2)]
    scorer = LMLossScorer(LayerRunner(loaded), batches, progress=False)
    removed = frozenset({2})
    scores = scorer(removed, [1, 3, 4])
    ids = torch.cat([b[0] for b in batches])
    mask = torch.cat([b[1] for b in batches])
    for layer in (1, 3, 4):
        assert scores[layer] == pytest.approx(_naive_loss(loaded.model, removed | {layer}, ids, mask), rel=1e-5)


def test_model_scorer_matches_lm_loss_scorer(tiny):
    loaded = tiny("gemma2", layers=5)
    ids = torch.randint(0, 256, (2, 24), generator=torch.Generator().manual_seed(5))
    mask = torch.ones_like(ids)
    lm = LMLossScorer(LayerRunner(loaded), [(ids, mask)], progress=False)

    def neg_loss(model):  # a "higher is better" score, like accuracy
        with torch.no_grad():
            return -float(model(input_ids=ids, attention_mask=mask, labels=ids).loss)

    task = ModelScorer(loaded, neg_loss, higher_is_better=True, progress=False)
    removed = frozenset({3})
    expected = lm(removed, [1, 2, 4])
    got = task(removed, [1, 2, 4])
    assert got == pytest.approx(expected, rel=1e-5)
    assert loaded.adapter.num_layers == 5  # the model was restored after every candidate


def test_calibration_batches_from_wikitext(tiny, shared_data):
    tok = tiny("llama", layers=2).tokenizer
    path = os.path.join(shared_data, "wikitext2", "valid.txt")
    batches = calibration_batches(tok, path, samples=5, seq_len=64, batch_size=2)
    assert [b[0].shape for b in batches] == [(2, 64), (2, 64), (1, 64)]
    assert all(int(m.sum()) == m.numel() for _, m in batches)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    first = tok.decode(batches[0][0][0])
    assert text.startswith(first)


def test_calibration_jsonl_and_bad_files(tiny, tmp_path):
    tok = tiny("llama", layers=2).tokenizer
    path = tmp_path / "c.jsonl"
    path.write_text("\n".join(json.dumps({"text": "abcdefgh" * 20}) for _ in range(3)))
    assert calibration_batches(tok, path, samples=3, seq_len=100)[0][0].shape == (3, 100)
    path.write_text('{"content": "x"}\n')
    with pytest.raises(FastpruneError, match="'text' field"):
        calibration_batches(tok, path, samples=1, seq_len=4)
    short = tmp_path / "short.txt"
    short.write_text("only a few words")
    with pytest.raises(FastpruneError, match="has 16 tokens.*need 40"):
        calibration_batches(tok, short, samples=4, seq_len=10)
    with pytest.raises(FastpruneError, match="not found"):
        calibration_batches(tok, tmp_path / "missing.txt", samples=1, seq_len=4)


def test_choose_layers_iterative_end_to_end(tiny, shared_data):
    loaded = tiny("mistral", layers=5)
    path = os.path.join(shared_data, "wikitext2", "valid.txt")
    removed, extra = choose_layers(
        loaded, "iterative", drop=2, calib_data=path, calib_samples=2, seq_len=32, batch_size=2, progress=False
    )
    history = extra["iterative_history"]
    assert len(removed) == 2 and 0 not in removed
    assert sorted(h["removed"] for h in history) == removed
    assert extra["calibration"]["samples"] == 2
    # Each round's winner has the lowest score of that round.
    for h in history:
        assert h["score"] == min(h["scores"].values())
