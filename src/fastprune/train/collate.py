"""Training sequences and micro-batches: padded one-example-per-row, or packed with document masks.

Packing joins whole examples into sequences of at most ``max_seq_len`` tokens. Position ids restart at 0 for
each document and an explicit 4D block-diagonal causal mask stops any token from attending across
documents. (HF's position-id-only packing detection is backend dependent and not reliable on CPU/SDPA, so
the mask is built here and handed to the model, which uses a 4D mask as given.)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fastprune.data.batching import pad_batch
from fastprune.models.masks import document_mask, sliding_windows
from fastprune.train.data import IGNORE, Example


@dataclass
class Sequence:
    input_ids: list[int]
    targets: list[int]
    doc_lengths: list[int]  # one entry per example in the sequence (a single one when not packing)

    @property
    def num_targets(self) -> int:
        return sum(t != IGNORE for t in self.targets)


def as_sequences(examples: list[Example]) -> list[Sequence]:
    return [Sequence(ex.input_ids, ex.targets, [len(ex.input_ids)]) for ex in examples]


def pack(examples: list[Example], max_seq_len: int) -> list[Sequence]:
    """Greedy in-order packing: an example that does not fit in the current sequence starts the next one.

    In order (not best-fit) so the data order the seed chose is kept and resumes are trivially exact.
    """
    out: list[Sequence] = []
    cur = Sequence([], [], [])
    for ex in examples:
        if cur.doc_lengths and len(cur.input_ids) + len(ex.input_ids) > max_seq_len:
            out.append(cur)
            cur = Sequence([], [], [])
        cur.input_ids.extend(ex.input_ids)
        cur.targets.extend(ex.targets)
        cur.doc_lengths.append(len(ex.input_ids))
    if cur.doc_lengths:
        out.append(cur)
    return out


def filler(pad_id: int) -> Sequence:
    """A one-token sequence without targets: lets a rank take part in a step's collectives with no data."""
    return Sequence([pad_id], [IGNORE], [1])


def position_ids(doc_lengths: list[list[int]], width: int) -> torch.Tensor:
    out = torch.zeros(len(doc_lengths), width, dtype=torch.long)
    for row, lengths in enumerate(doc_lengths):
        out[row, : sum(lengths)] = torch.cat([torch.arange(n) for n in lengths])
    return out


def collate(seqs: list[Sequence], pad_id: int, packed: bool, config=None,
            mask_dtype: torch.dtype = torch.float32) -> dict:
    """Model inputs for one micro-batch, right-padded: ``input_ids``, ``attention_mask`` (2D padding mask,
    or for ``packed`` a 4D document mask, or a dict of them per attention kind when the layers mix full
    and sliding attention), ``position_ids`` when packed, and ``targets`` (pre-shifted, IGNORE = no loss)."""
    ids, pad_mask = pad_batch([s.input_ids for s in seqs], pad_id)
    targets, _ = pad_batch([s.targets for s in seqs], IGNORE)
    width = ids.shape[1]
    batch = {"input_ids": ids, "targets": targets}
    if not packed:
        batch["attention_mask"] = pad_mask
        return batch
    lengths = [s.doc_lengths for s in seqs]
    kinds = sliding_windows(config) if config is not None else {"full_attention": None}
    masks = {kind: document_mask(lengths, width, mask_dtype, window) for kind, window in kinds.items()}
    types = getattr(config, "layer_types", None) if config is not None else None
    batch["attention_mask"] = masks if types and len(set(types)) > 1 else next(iter(masks.values()))
    batch["position_ids"] = position_ids(lengths, width)
    return batch


def to_device(batch: dict, device: torch.device) -> dict:
    out = {}
    for key, value in batch.items():
        if isinstance(value, dict):
            out[key] = {k: v.to(device, non_blocking=True) for k, v in value.items()}
        else:
            out[key] = value.to(device, non_blocking=True)
    return out
