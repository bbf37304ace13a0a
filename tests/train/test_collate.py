import pytest
import torch

from fastprune.models import byte_tokenizer
from fastprune.train.collate import as_sequences, collate, document_mask, pack, position_ids
from fastprune.train.data import IGNORE, Renderer, build_examples, read_rows
from fastprune.train.loop import token_loss_sum


def _examples(rows_file, n=10):
    examples, _ = build_examples(read_rows(rows_file(n)), Renderer(byte_tokenizer()), max_seq_len=256)
    return examples


def test_pack_keeps_whole_examples_in_order_within_the_limit(rows_file):
    examples = _examples(rows_file, 12)
    packed = pack(examples, 160)
    assert sum(len(s.doc_lengths) for s in packed) == 12 and len(packed) < 12
    assert all(len(s.input_ids) <= 160 for s in packed)
    flat = [t for s in packed for t in s.input_ids]
    assert flat == [t for ex in examples for t in ex.input_ids]
    assert sum(s.num_targets for s in packed) == sum(ex.num_targets for ex in examples)


def test_document_mask_and_positions_restart_per_document():
    mask = document_mask([[2, 3]], width=6, dtype=torch.float32)[0, 0]
    allowed = mask == 0
    expected = torch.tensor([
        [1, 0, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0],
        [0, 0, 1, 0, 0, 0], [0, 0, 1, 1, 0, 0], [0, 0, 1, 1, 1, 0],
        [0, 0, 0, 0, 0, 1],  # padding attends only to itself: no empty softmax row
    ], dtype=torch.bool)
    assert torch.equal(allowed, expected)
    assert position_ids([[2, 3]], 6).tolist() == [[0, 1, 0, 1, 2, 0]]
    windowed = document_mask([[5]], width=5, dtype=torch.float32, window=2)[0, 0] == 0
    assert windowed[4].tolist() == [False, False, False, True, True]


def test_padded_collate_masks_padding_and_targets():
    a = as_sequences(_fake([[1, 2, 3]], [[2, 3, IGNORE]]))[0]
    b = as_sequences(_fake([[4]], [[IGNORE]]))[0]
    batch = collate([a, b], pad_id=9, packed=False)
    assert batch["input_ids"].tolist() == [[1, 2, 3], [4, 9, 9]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["targets"].tolist() == [[2, 3, IGNORE], [IGNORE] * 3]


def _fake(ids, targets):
    from fastprune.train.data import Example

    return [Example(i, t) for i, t in zip(ids, targets, strict=True)]


def _token_losses(model, batch):
    """Per-target-token losses in row-major order: the same order packed or not (examples stay in order)."""
    kwargs = {k: batch[k] for k in ("input_ids", "attention_mask", "position_ids") if k in batch}
    logits = model(**kwargs).logits
    keep = batch["targets"] != IGNORE
    return torch.nn.functional.cross_entropy(logits[keep], batch["targets"][keep], reduction="none")


@pytest.mark.parametrize("family", ["llama", "qwen3", "gemma3", "mistral"])
def test_packed_loss_equals_unpacked_loss(tiny, rows_file, family):
    # gemma3 mixes sliding (window 32) and full attention layers, mistral slides everywhere (window 64): the
    # documents here are longer than the windows, so the windowed document masks are exercised too.
    loaded = tiny(family, layers=2)
    model = loaded.model
    examples = _examples(rows_file, 10)
    pad = loaded.tokenizer.pad_token_id
    window = getattr(model.config, "sliding_window", None)
    assert window is None or max(len(ex.input_ids) for ex in examples) > window
    packed_seqs = pack(examples, 200)
    assert any(len(s.doc_lengths) > 1 for s in packed_seqs)
    with torch.no_grad():
        unpacked = _token_losses(model, collate(as_sequences(examples), pad, packed=False, config=model.config))
        packed = _token_losses(model, collate(packed_seqs, pad, packed=True, config=model.config))
        # Sanity: without the document mask the packed losses differ (attention leaks across documents).
        leaked = _token_losses(model, collate(packed_seqs, pad, packed=False, config=model.config))
        total = token_loss_sum(model, collate(packed_seqs, pad, packed=True, config=model.config))
    # Per token, not summed: a window mistake touches only the few tokens past the window.
    torch.testing.assert_close(packed, unpacked, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(leaked, unpacked, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(total, unpacked.sum(), rtol=1e-5, atol=1e-4)  # the training loss agrees
