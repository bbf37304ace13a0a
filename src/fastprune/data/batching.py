"""Right-padded batches with attention masks, sharded across ranks of a multi-process pass.

Every rank reads the same sequence stream and groups it into global batches of ``batch_size * world``
sequences; rank ``r`` keeps sequences ``r, r + world, ...`` of each. So all ranks agree on the stream
position after every global batch, and a checkpoint written by rank 0 resumes any number of ranks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from fastprune.data.packing import SequenceStream


@dataclass
class Batch:
    input_ids: torch.Tensor  # [B, S] long, right padded (B may be 0 on a rank left without sequences)
    attention_mask: torch.Tensor  # [B, S] long, 1 = real token, 0 = padding
    index: int  # global batch number, counting from 0 over the whole pass (resumes included)
    position: dict  # stream position after this global batch (identical on every rank)
    global_tokens: int  # real tokens in the global batch


def pad_id_of(tokenizer) -> int:
    """The id that fills padding: the tokenizer's pad token, else its EOS, else 0.

    Padding is masked out of every statistic and loss, so any valid id works; a real pad or EOS id keeps
    the padded positions' embeddings ordinary.
    """
    return next(int(i) for i in (getattr(tokenizer, "pad_token_id", None),
                                 getattr(tokenizer, "eos_token_id", None), 0) if i is not None)


def pad_batch(sequences: list[list[int]], pad_id: int, left: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """``(input_ids, attention_mask)``: padding to the longest sequence of the list.

    Right padding by default; ``left`` puts the padding before each sequence (real tokens end together).
    """
    width = max((len(s) for s in sequences), default=0)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        cols = slice(width - len(seq), width) if left else slice(0, len(seq))
        ids[row, cols] = torch.tensor(seq, dtype=torch.long)
        mask[row, cols] = 1
    return ids, mask


def fixed_length_batches(ids: list[int], samples: int, seq_len: int, batch_size: int
                         ) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The first ``samples * seq_len`` of ``ids`` cut into ``samples`` chunks of ``seq_len``, batched
    ``batch_size`` at a time as ``(input_ids, attention_mask)``; full chunks need no padding (mask all ones)."""
    chunks = [ids[i * seq_len : (i + 1) * seq_len] for i in range(samples)]
    return [pad_batch(chunks[i : i + batch_size], 0) for i in range(0, samples, batch_size)]


def batches(
    stream: SequenceStream, batch_size: int, pad_id: int, rank: int = 0, world: int = 1, first_index: int = 0
) -> Iterator[Batch]:
    """This rank's share of each global batch of ``stream``; see the module docstring."""
    if batch_size < 1:
        raise ValueError(f"batch size must be positive, not {batch_size}")
    group: list[list[int]] = []
    index = first_index

    def make() -> Batch:
        mine = group[rank::world]
        ids, mask = pad_batch(mine, pad_id)
        return Batch(ids, mask, index, stream.position.to_dict(), sum(len(s) for s in group))

    for seq in stream:
        group.append(seq)
        if len(group) == batch_size * world:
            yield make()
            group, index = [], index + 1
    if group:
        yield make()
