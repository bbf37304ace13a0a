"""Corpora and prompt sources, tokenisation, packing and padded batches, shared by every stage."""

from fastprune.data.batching import Batch, batches, fixed_length_batches, pad_batch, pad_id_of
from fastprune.data.packing import SequenceStream, StreamPosition
from fastprune.data.paths import SHORTHANDS, shared_data_dir
from fastprune.data.sources import TextSource, open_source

__all__ = [
    "SHORTHANDS",
    "Batch",
    "SequenceStream",
    "StreamPosition",
    "TextSource",
    "batches",
    "fixed_length_batches",
    "open_source",
    "pad_batch",
    "pad_id_of",
    "shared_data_dir",
]
