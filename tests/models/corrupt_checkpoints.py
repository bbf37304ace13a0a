"""Broken copies of a tiny saved checkpoint, one per way a checkpoint dir goes wrong on disk."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

# kind -> the file the error must name (relative to the checkpoint dir; "" = the dir itself)
CORRUPTIONS = {
    "truncated_header": "model.safetensors",
    "truncated_data": "model.safetensors",
    "missing_shard": "model.safetensors.index.json",
    "shape_mismatch": "model.safetensors",
    "missing_tensor": "model.safetensors",
    "missing_config": "",
    "invalid_config": "config.json",
    "unknown_architecture": "config.json",
    "invalid_tokenizer": "tokenizer.json",
}


def save_tiny(path: Path, family: str = "llama", layers: int = 2, shard_size: str | None = None) -> Path:
    from fastprune.models import load_model

    loaded = load_model(f"tiny:{family}:{layers}", dtype="float32", device="cpu")
    kwargs = {"max_shard_size": shard_size} if shard_size else {}
    loaded.model.save_pretrained(path, **kwargs)
    loaded.tokenizer.save_pretrained(path)
    return path


def make_corrupt(good: Path, target: Path, kind: str) -> Path:
    """A copy of checkpoint ``good`` at ``target`` broken the way ``kind`` says."""
    if kind == "missing_shard":
        save_tiny(target, shard_size="40KB")
        shards = sorted(target.glob("model-*.safetensors"))
        assert len(shards) > 1
        shards[-1].unlink()
        return target
    shutil.copytree(good, target)
    weights = target / "model.safetensors"
    config = json.loads((target / "config.json").read_text())
    if kind == "truncated_header":
        weights.write_bytes(weights.read_bytes()[:5])
    elif kind == "truncated_data":
        weights.write_bytes(weights.read_bytes()[:-100])
    elif kind == "shape_mismatch":
        config["intermediate_size"] *= 2
        (target / "config.json").write_text(json.dumps(config))
    elif kind == "missing_tensor":
        from safetensors.torch import load_file, save_file

        tensors = load_file(weights)
        del tensors[next(k for k in tensors if "layers.1.mlp.down_proj" in k)]
        save_file(tensors, weights, metadata={"format": "pt"})
    elif kind == "missing_config":
        (target / "config.json").unlink()
    elif kind == "invalid_config":
        (target / "config.json").write_text('{"model_type": "llama", ')
    elif kind == "unknown_architecture":
        config["model_type"] = "no-such-arch"
        (target / "config.json").write_text(json.dumps(config))
    elif kind == "invalid_tokenizer":
        (target / "tokenizer.json").write_text("{")
    else:
        raise ValueError(kind)
    return target
