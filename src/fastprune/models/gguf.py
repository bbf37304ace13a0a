"""Loading a GGUF file through transformers' GGUF support (needs the ``gguf`` package)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fastprune.errors import FastpruneError


def load_gguf(path: str | Path, dtype=None):
    """Return ``(model, tokenizer)`` de-quantised from the GGUF file at ``path``."""
    path = Path(path)
    if not path.is_file():
        raise FastpruneError(f"GGUF file not found: {path}")
    if importlib.util.find_spec("gguf") is None:
        raise FastpruneError(f"loading {path.name} needs the 'gguf' package: pip install gguf")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs = {"gguf_file": path.name}
    if dtype is not None:
        kwargs["dtype"] = dtype
    try:
        model = AutoModelForCausalLM.from_pretrained(str(path.parent), **kwargs)
        tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    except (ValueError, OSError, KeyError) as exc:
        raise FastpruneError(f"cannot load GGUF file {path}: {exc}") from exc
    return model, tokenizer
