"""Corpora and prompt sources, tokenisation, packing and padded batches, shared by every stage."""

from fastprune.data.batching import Batch, batches, pad_batch
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
    "open_source",
    "pad_batch",
    "shared_data_dir",
]
