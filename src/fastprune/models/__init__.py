"""Loading models from spec strings, and the architecture facts every stage needs.

Exports resolve lazily: ``fastprune.models.options`` (the model-loading options every stage's command line
includes) is imported by ``fastprune --help``, which must not pay for torch and transformers.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "ArchitectureAdapter": "adapter", "adapter_for": "adapter",
    "EMBEDDED_NAME": "embedded", "cache_dir": "embedded", "ensure_embedded_checkpoint": "embedded",
    "kv_bytes_per_token": "info", "model_info": "info",
    "LoadedModel": "loader", "load_model": "loader", "unwrap_model": "loader",
    "resolve_device": "devices", "resolve_dtype": "devices",
    "ModelOptions": "options",
    "ModelSpec": "spec", "parse_model_spec": "spec", "random_config_names": "spec",
    "TINY_FAMILIES": "tiny", "byte_tokenizer": "tiny", "tiny_config": "tiny", "tiny_model": "tiny",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'fastprune.models' has no attribute {name!r}")
    return getattr(importlib.import_module(f"fastprune.models.{_EXPORTS[name]}"), name)
