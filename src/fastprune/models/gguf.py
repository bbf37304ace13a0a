"""GGUF files as models: de-quantised once through transformers' GGUF loader into a cached checkpoint.

transformers rebuilds a config from a GGUF's metadata but reads only part of what llama.cpp writes:
per-layer attention patterns, logit soft-capping, the attention scale and the sliding-window rope base
would silently take the config class's defaults. ``gguf_config_fixes`` reads those keys back, so a GGUF
written by ``fastprune export`` (or llama.cpp's converter) loads as the model it was written from.

A GGUF model is converted once into a plain safetensors checkpoint under ``$FASTPRUNE_CACHE``, keyed by
the file's hash (``cached_gguf_checkpoint``; the embedded model goes through the same function), so every
stage sees an ordinary, serialisable HF checkpoint.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import sys
from pathlib import Path

import numpy as np

from fastprune.errors import FastpruneError

logger = logging.getLogger(__name__)

# How many leading hex digits of the file's sha256 name its cache dir: enough to never collide in a cache.
_HASH_DIGITS = 16


def _require_gguf(path: Path) -> None:
    if importlib.util.find_spec("gguf") is None:
        raise FastpruneError(f"loading {path.name} needs the 'gguf' package: pip install gguf")


def read_gguf_fields(path: str | Path) -> dict:
    """The file's scalar and short-array metadata as plain Python values (token lists left out)."""
    import gguf

    reader = gguf.GGUFReader(str(path))
    fields = {}
    for key, field in reader.fields.items():
        if key.startswith("tokenizer.ggml.") and key.split(".")[-1] in ("tokens", "merges", "token_type", "scores"):
            continue
        fields[key] = field.contents()
    return fields


def gguf_config_fixes(fields: dict, config) -> dict:
    """Config attributes the GGUF states but transformers' GGUF loader does not read: ``{attr: value}``."""
    arch = fields["general.architecture"]
    key = lambda name: fields.get(f"{arch}.{name}")  # noqa: E731
    fixes = {}
    pattern = key("attention.sliding_window_pattern")
    n_layers = config.num_hidden_layers
    if isinstance(pattern, list):
        if len(pattern) != n_layers:
            raise FastpruneError(
                f"GGUF {arch}.attention.sliding_window_pattern has {len(pattern)} entries for {n_layers} layers"
            )
        if hasattr(config, "layer_types"):
            fixes["layer_types"] = ["sliding_attention" if swa else "full_attention" for swa in pattern]
    window = key("attention.sliding_window")
    if window is not None and hasattr(config, "sliding_window"):
        fixes["sliding_window"] = int(window)
    for name in ("attn_logit_softcapping", "final_logit_softcapping"):
        if key(name) is not None and hasattr(config, name):
            fixes[name] = float(key(name))
    scale = key("attention.scale")
    if scale is not None and hasattr(config, "query_pre_attn_scalar"):
        scalar = round(float(scale) ** -2, 4)
        fixes["query_pre_attn_scalar"] = int(scalar) if scalar.is_integer() else scalar
    head_dim = key("attention.key_length")
    if head_dim is not None and hasattr(config, "head_dim"):
        fixes["head_dim"] = int(head_dim)
    eps = key("attention.layer_norm_rms_epsilon")
    if eps is not None and hasattr(config, "rms_norm_eps"):
        # stored as float32: the shortest decimal that rounds to it is the value the source config had
        fixes["rms_norm_eps"] = float(str(np.float32(eps)))
    swa_base = key("rope.freq_base_swa")
    rope = getattr(config, "rope_parameters", None)
    if swa_base is not None and isinstance(rope, dict) and "sliding_attention" in rope:
        full_base = key("rope.freq_base")
        rope = {kind: dict(params) for kind, params in rope.items()}
        rope["sliding_attention"]["rope_theta"] = float(swa_base)
        if full_base is not None:
            rope["full_attention"]["rope_theta"] = float(full_base)
        fixes["rope_parameters"] = rope
    return fixes


def convert_gguf(path: str | Path, out_dir: str | Path) -> None:
    """De-quantise the GGUF at ``path`` into a plain HF checkpoint (safetensors + tokenizer) in ``out_dir``."""
    path = Path(path)
    if not path.is_file():
        raise FastpruneError(f"GGUF file not found: {path}")
    _require_gguf(path)
    from transformers import AutoConfig, AutoModelForCausalLM

    where = dict(pretrained_model_name_or_path=str(path.parent), gguf_file=path.name)
    try:
        fields = read_gguf_fields(path)
        config = AutoConfig.from_pretrained(**where)
        # fixed before the model is built: a wrong head_dim would mis-shape the attention weights
        for attr, value in gguf_config_fixes(fields, config).items():
            setattr(config, attr, value)
        model = AutoModelForCausalLM.from_pretrained(**where, config=config)
        tokenizer = _gguf_tokenizer(fields, where)
    except (ValueError, OSError, KeyError, NotImplementedError) as exc:
        raise FastpruneError(f"cannot load GGUF file {path}: {exc}".splitlines()[0]) from exc
    if config.model_type == "llama" and fields.get("llama.attention.sliding_window"):
        model.config = _as_mistral(config, int(fields["llama.attention.sliding_window"]))
    model = _plain_copy(model)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    if model.generation_config is not None:
        model.generation_config.save_pretrained(out_dir)


def _gguf_tokenizer(fields: dict, where: dict):
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    # A byte-level ("gpt2") vocabulary is exactly what the file states; the model's own tokenizer class
    # (Gemma's, say) would add its normaliser and pre-tokeniser on top of it.
    cls = PreTrainedTokenizerFast if fields.get("tokenizer.ggml.model") == "gpt2" else AutoTokenizer
    return cls.from_pretrained(**where)


def _as_mistral(config, sliding_window: int):
    """llama.cpp writes Mistral as ``llama``; with a sliding window it is Mistral (Llama + the window)."""
    from transformers import MistralConfig

    data = config.to_dict()
    for key in ("model_type", "architectures", "transformers_version"):
        data.pop(key, None)
    data["sliding_window"] = sliding_window
    return MistralConfig(**data, architectures=["MistralForCausalLM"])


def load_gguf(path: str | Path, dtype=None):
    """``(model, tokenizer)`` de-quantised from the GGUF at ``path``, without touching the cache."""
    import tempfile

    from transformers import AutoModelForCausalLM, AutoTokenizer

    with tempfile.TemporaryDirectory(prefix="fastprune-gguf-") as tmp:
        convert_gguf(path, tmp)
        model = AutoModelForCausalLM.from_pretrained(tmp, dtype=dtype or "auto")
        tokenizer = AutoTokenizer.from_pretrained(tmp)
    return model.eval(), tokenizer


def _plain_copy(model):
    """A plain (non-quantised) model with the de-quantised weights, built from the (fixed) config:
    transformers refuses to ``save_pretrained`` a model it still marks as GGUF-quantised."""
    import torch
    from transformers import AutoModelForCausalLM

    config = model.config
    for attr in ("quantization_config", "_pre_quantization_dtype"):
        if hasattr(config, attr):
            delattr(config, attr)
    dtype = next(model.parameters()).dtype
    with torch.device("meta"):
        plain = AutoModelForCausalLM.from_config(config, dtype=dtype)
    plain.load_state_dict(model.state_dict(), assign=True)
    plain.tie_weights()
    plain.generation_config = model.generation_config
    return plain.eval()


def gguf_cache_dir(path: str | Path, name: str | None = None) -> Path:
    """Cache dir of the checkpoint converted from ``path``: ``models/<label>-<sha256 prefix>``.

    The hash is the key; the label (``name``, else the file's stem) only makes the dir readable, so the
    same content reached under another name or label finds the conversion already there.
    """
    from fastprune.models.embedded import cache_dir

    path = Path(path).resolve()
    stat = path.stat()
    digest = _file_digest(str(path), stat.st_size, stat.st_mtime_ns)[:_HASH_DIGITS]
    models = cache_dir() / "models"
    for existing in sorted(models.glob(f"*-{digest}")) if models.is_dir() else ():
        if _is_complete(existing):
            return existing
    return models / f"{name or path.stem}-{digest}"


def _is_complete(folder: Path) -> bool:
    return (folder / "config.json").is_file() and any(folder.glob("*.safetensors"))


@functools.lru_cache(maxsize=64)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    # size and mtime are part of the key so a file rewritten in place is hashed again
    from fastprune.utils_io import sha256_file

    return sha256_file(path)


def cached_gguf_checkpoint(path: str | Path, name: str | None = None) -> Path:
    """The cached safetensors checkpoint of the GGUF at ``path``, converting it on first use.

    Keyed by the file's content hash: a file edited in place gets a fresh conversion, the same content
    under another path or name reuses the one conversion.
    """
    from fastprune.utils_io import atomic_directory

    path = Path(path)
    if not path.is_file():
        raise FastpruneError(f"GGUF file not found: {path}")
    target = gguf_cache_dir(path, name)
    if _is_complete(target):
        return target
    _require_gguf(path)
    logger.info(f"fastprune: converting {path.name} once into {target} (later loads reuse it)")
    module = sys.modules[__name__]  # through the module, so a test can observe or forbid the conversion
    with atomic_directory(target, overwrite=True) as tmp:
        module.convert_gguf(path, tmp)
    return target
