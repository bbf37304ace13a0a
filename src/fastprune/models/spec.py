"""Model spec strings: the one way every command names a model.

- ``smollm2-135m`` (alias ``embedded``): the embedded default model;
- a local HF checkpoint dir, or a ``.gguf`` file path;
- ``random:NAME`` (a shipped production config: see ``random_config_names()``) or ``random:path/config.json``;
- ``tiny:FAMILY[:LAYERS]``: a tiny random model (llama, qwen2, qwen3, mistral, gemma2, gemma3, phi3);
- anything else shaped like ``org/name``: a hub id (needs a network).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from fastprune.errors import FastpruneError
from fastprune.models.embedded import EMBEDDED_NAME

EMBEDDED_ALIASES = (EMBEDDED_NAME, "embedded", "smollm2-135m-instruct")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class ModelSpec:
    kind: str  # embedded | local | gguf | random | tiny | hub
    value: str  # path, config name/path, family, or hub id
    layers: int | None = None  # tiny models only
    raw: str = ""


def random_config_names() -> list[str]:
    folder = resources.files("fastprune.models") / "configs"
    return sorted(p.name[: -len(".json")] for p in folder.iterdir() if p.name.endswith(".json"))


def parse_model_spec(spec: str) -> ModelSpec:
    """Classify ``spec`` without loading anything; unknown forms get an error listing the valid ones."""
    from fastprune.models.tiny import TINY_FAMILIES

    raw = spec
    spec = spec.strip()
    if not spec:
        raise FastpruneError("empty model spec")
    if spec.lower() in EMBEDDED_ALIASES:
        return ModelSpec("embedded", EMBEDDED_NAME, raw=raw)
    if spec.startswith("random:"):
        name = spec[len("random:"):]
        if name.endswith(".json"):
            if not Path(name).is_file():
                raise FastpruneError(f"random model config not found: {name}")
            return ModelSpec("random", name, raw=raw)
        if name.lower() not in random_config_names():
            raise FastpruneError(
                f"unknown random model {name!r}; shipped configs: {', '.join(random_config_names())} "
                "(or give random:path/to/config.json)"
            )
        return ModelSpec("random", name.lower(), raw=raw)
    if spec.startswith("tiny:"):
        parts = spec.split(":")
        family = parts[1].lower() if len(parts) > 1 else ""
        if family not in TINY_FAMILIES:
            raise FastpruneError(f"unknown tiny family {family!r}; known: {', '.join(TINY_FAMILIES)}")
        try:
            layers = int(parts[2]) if len(parts) > 2 and parts[2] else 6
        except ValueError:
            layers = 0
        if layers < 1 or len(parts) > 3:
            raise FastpruneError(f"model spec {spec!r}: the form is tiny:FAMILY[:LAYERS] with LAYERS >= 1")
        return ModelSpec("tiny", family, layers=layers, raw=raw)
    path = Path(spec).expanduser()
    if spec.lower().endswith(".gguf"):
        if not path.is_file():
            raise FastpruneError(f"GGUF file not found: {spec}")
        return ModelSpec("gguf", str(path), raw=raw)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise FastpruneError(f"{spec} is a directory but holds no config.json: not a HF checkpoint")
        return ModelSpec("local", str(path), raw=raw)
    if path.exists():
        raise FastpruneError(f"{spec} is a file, not a model: give a checkpoint dir, a .gguf file or a spec")
    if _HUB_ID.match(spec) and not spec.startswith((".", "/")):
        return ModelSpec("hub", spec, raw=raw)
    raise FastpruneError(
        f"unknown model {spec!r}: not a local checkpoint dir, .gguf file or hub id. Valid forms: "
        f"{EMBEDDED_NAME}, path/to/checkpoint, file.gguf, random:NAME, tiny:FAMILY[:LAYERS], org/name"
    )
