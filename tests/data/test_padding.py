"""pad_batch, pad_id_of and fixed_length_batches: the one padding helper every stage uses."""

import pytest
import torch

from fastprune.data import fixed_length_batches, pad_batch, pad_id_of
from fastprune.models import byte_tokenizer


def test_left_padding_ends_real_tokens_together():
    ids, mask = pad_batch([[1, 2, 3], [4]], pad_id=9, left=True)
    assert ids.tolist() == [[1, 2, 3], [9, 9, 4]]
    assert mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    assert ids.dtype == mask.dtype == torch.long


def test_empty_rows_and_empty_list():
    ids, mask = pad_batch([[], [5, 6]], pad_id=-100)
    assert ids.tolist() == [[-100, -100], [5, 6]]
    assert mask.tolist() == [[0, 0], [1, 1]]
    ids, mask = pad_batch([], pad_id=0)
    assert ids.shape == mask.shape == (0, 0)


class _Tok:
    def __init__(self, pad, eos):
        self.pad_token_id, self.eos_token_id = pad, eos


@pytest.mark.parametrize(("pad", "eos", "want"), [(7, 3, 7), (0, 3, 0), (None, 3, 3), (None, 0, 0), (None, None, 0)])
def test_pad_id_falls_back_to_eos_then_zero(pad, eos, want):
    assert pad_id_of(_Tok(pad, eos)) == want


def test_pad_id_of_real_tokenizer_and_none():
    tok = byte_tokenizer()
    assert pad_id_of(tok) == tok.pad_token_id != tok.eos_token_id
    assert pad_id_of(None) == 0


def test_fixed_length_batches_cut_in_order_without_padding():
    ids = list(range(100, 123))
    out = fixed_length_batches(ids, samples=5, seq_len=4, batch_size=2)
    assert [b[0].shape[0] for b in out] == [2, 2, 1]
    assert torch.cat([b[0] for b in out]).view(-1).tolist() == ids[:20]
    assert all(bool(m.all()) for _, m in out)
