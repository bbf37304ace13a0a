import torch

from fastprune.data import SequenceStream, batches, open_source, pad_batch
from fastprune.models import byte_tokenizer


def test_pad_batch_right_pads_with_mask():
    ids, mask = pad_batch([[1, 2, 3], [4]], pad_id=9)
    assert ids.tolist() == [[1, 2, 3], [4, 9, 9]]
    assert mask.tolist() == [[1, 1, 1], [1, 0, 0]]


def _real_rows(batch):
    return [
        ids[mask.bool()].tolist() for ids, mask in zip(batch.input_ids, batch.attention_mask, strict=True)
    ]


def _stream(path, **kw):
    return SequenceStream(open_source(str(path)), byte_tokenizer(), seq_len=6, pack=False, **kw)


def test_ranks_partition_every_global_batch(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("\n".join(f"doc{i}" + "z" * (i % 4) for i in range(11)) + "\n")
    single = [row for b in batches(_stream(path), 2, pad_id=0) for row in b.input_ids.tolist()]
    shards = [list(batches(_stream(path), 2, pad_id=0, rank=r, world=2)) for r in range(2)]
    # Same number of global batches, same positions on every rank, and the union is the whole stream.
    assert len(shards[0]) == len(shards[1]) == 3
    assert [b.position for b in shards[0]] == [b.position for b in shards[1]]
    assert [b.global_tokens for b in shards[0]] == [b.global_tokens for b in shards[1]]
    rows = {r: [row for b in shards[r] for row in _real_rows(b)] for r in range(2)}
    merged = [None] * 11
    merged[0::2], merged[1::2] = rows[0], rows[1]
    strip = [[t for t in row if t != 0] for row in single]
    assert merged == strip
    # The last global batch has 3 sequences: rank 0 gets 2, rank 1 gets 1.
    assert shards[0][-1].input_ids.shape[0] == 2 and shards[1][-1].input_ids.shape[0] == 1


def test_batch_indices_continue_after_resume(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("aaa\nbbb\nccc\n")
    got = list(batches(_stream(path), 1, pad_id=0, first_index=5))
    assert [b.index for b in got] == [5, 6, 7]
    assert got[-1].position["docs"] == 3 and all(isinstance(b.input_ids, torch.Tensor) for b in got)
