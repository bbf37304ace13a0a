"""Corpora and prompt sources, tokenisation, packing and padded batches, shared by every stage.

Exports resolve on first use: light modules (``data.jsonl``, ``data.paths``, ``data.chat``) are imported by
``fastprune --help`` and by the sandboxed code runner, which must not pay for (or, in the sandbox, even
have) torch.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Batch": "batching", "batches": "batching", "fixed_length_batches": "batching", "pad_batch": "batching",
    "pad_id_of": "batching",
    "SequenceStream": "packing", "StreamPosition": "packing",
    "SHORTHANDS": "paths", "shared_data_dir": "paths",
    "TextSource": "sources", "open_source": "sources",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'fastprune.data' has no attribute {name!r}")
    return getattr(importlib.import_module(f"fastprune.data.{_EXPORTS[name]}"), name)
