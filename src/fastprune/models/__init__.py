"""Loading models from spec strings, and the architecture facts every stage needs."""

from fastprune.models.adapter import ArchitectureAdapter, adapter_for
from fastprune.models.devices import resolve_device, resolve_dtype
from fastprune.models.embedded import EMBEDDED_NAME, cache_dir, ensure_embedded_checkpoint
from fastprune.models.info import kv_bytes_per_token, model_info
from fastprune.models.loader import LoadedModel, load_model, unwrap_model
from fastprune.models.spec import ModelSpec, parse_model_spec, random_config_names
from fastprune.models.tiny import TINY_FAMILIES, byte_tokenizer, tiny_config, tiny_model

__all__ = [
    "EMBEDDED_NAME", "TINY_FAMILIES", "ArchitectureAdapter", "LoadedModel", "ModelSpec", "adapter_for",
    "byte_tokenizer", "cache_dir", "ensure_embedded_checkpoint", "kv_bytes_per_token", "load_model",
    "model_info", "parse_model_spec", "random_config_names", "resolve_device", "resolve_dtype",
    "tiny_config", "tiny_model", "unwrap_model",
]
