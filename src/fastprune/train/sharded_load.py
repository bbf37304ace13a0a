"""Build the model to train on the ``meta`` device, shard it with FSDP2, then fill only this rank's shards.

No rank ever holds the whole model when it comes from a checkpoint directory: each parameter's rows that this
rank owns are read straight from the safetensors files (``safe_open(...).get_slice``). Models that have no
files to slice (``tiny:``, ``random:``, GGUF, hub ids) are loaded whole on rank 0 and broadcast one tensor at
a time, each rank keeping its rows; there rank 0 alone pays the full copy.

Buffers are built for real on CPU (only parameters go to ``meta``), so non-persistent ones such as the rotary
``inv_freq`` are kept across ``to_empty`` and put back after it. LoRA adapters get ``modes.lora_init``: drawn per
adapter name, the same full tensor on every rank and in a one-process run, of which each rank keeps its rows.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from fastprune.errors import FastpruneError
from fastprune.models.loader import checkpoint_tokenizer
from fastprune.train.distributed import DistEnv, shard
from fastprune.train.modes import is_lora_param, lora_init

_PEFT_PREFIX = "base_model.model."


def checkpoint_dir(spec) -> Path | None:
    """The directory of safetensors files behind a model spec, or None (the spec has none to slice)."""
    if spec.kind not in ("embedded", "local", "gguf"):
        return None
    from fastprune.models.loader import checkpoint_path

    path = Path(checkpoint_path(spec))
    has_files = (path / "model.safetensors").is_file() or (path / "model.safetensors.index.json").is_file()
    return path if has_files else None


def checkpoint_key(name: str) -> str:
    """A trained model's parameter name as the source checkpoint spells it (peft wrapping removed)."""
    name = name.removeprefix(_PEFT_PREFIX)
    return name.replace(".base_layer.", ".")


class SafetensorsSource:
    """Rows ``[lo, hi)`` of the tensors of a checkpoint dir (one file or an index of shards), read from disk.

    Each read opens its file and closes it again: a slice is a view of the memory-mapped file, and pages read
    through a mapping that stays open count as this process's memory until it is closed (measured: an open
    handle for the whole load doubled the peak)."""

    def __init__(self, path: Path):
        from safetensors import safe_open

        index = path / "model.safetensors.index.json"
        if index.is_file():
            where = json.loads(index.read_text())["weight_map"]
        else:
            with safe_open(str(path / "model.safetensors"), framework="pt") as f:
                where = dict.fromkeys(f.keys(), "model.safetensors")
        self.path, self.keys = path, set(where)
        self._where = where

    def rows(self, key: str, lo: int, hi: int, shape, dtype) -> torch.Tensor:
        from safetensors import safe_open

        with safe_open(str(self.path / self._where[key]), framework="pt") as f:
            part = f.get_slice(key)
            return (part[lo:hi] if part.get_shape() else part[:]).to(dtype, copy=True)


class Rank0Source:
    """Rank 0 holds the whole state dict; ``rows`` broadcasts one tensor (collective, same order on all ranks)."""

    def __init__(self, state: dict | None, device: torch.device):
        box = [sorted(state) if state is not None else None]
        dist.broadcast_object_list(box, src=0)
        self.keys, self._state, self._device = set(box[0]), state, device  # nccl broadcasts GPU tensors only

    def rows(self, key: str, lo: int, hi: int, shape, dtype) -> torch.Tensor:
        full = (self._state[key].to(self._device, dtype).contiguous() if self._state is not None
                else torch.empty(shape, dtype=dtype, device=self._device))
        dist.broadcast(full, src=0)
        return full[lo:hi] if full.dim() else full


def owned_rows(full_rows: int, world: int, rank: int) -> tuple[int, int]:
    """FSDP2's dim-0 sharding: ``torch.chunk`` into ``world`` pieces (the last ones may be short or empty)."""
    size = -(-full_rows // world)
    return min(rank * size, full_rows), min((rank + 1) * size, full_rows)


def meta_model(config, dtype: torch.dtype) -> nn.Module:
    """The model with its parameters on ``meta`` and its buffers computed for real on CPU."""
    from accelerate import init_empty_weights
    from transformers import AutoModelForCausalLM

    with init_empty_weights(include_buffers=False):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    model.tie_weights()  # the empty-weights context replaces parameters one by one, which unties a tied head
    return model


def source_for(spec, dtype: torch.dtype, env: DistEnv, trust_remote_code: bool, seed: int = 0):
    """(config, tokenizer, path or None, source) for a model spec: safetensors rows where there are files,
    else rank 0 loads the model whole (``seed`` for random weights) and broadcasts it."""
    path = checkpoint_dir(spec)
    if path is not None:
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code)
        return config, checkpoint_tokenizer(path, trust_remote_code), path, SafetensorsSource(path)
    from fastprune.models import load_model

    loaded = load_model(spec, dtype=dtype, device="cpu", seed=seed, trust_remote_code=trust_remote_code) \
        if env.is_main else None
    box = [(loaded.model.config, loaded.tokenizer) if loaded is not None else None]
    dist.broadcast_object_list(box, src=0)
    config, tokenizer = box[0]
    return config, tokenizer, None, Rank0Source(loaded.model.state_dict() if loaded is not None else None,
                                                env.device)


def materialise(model: nn.Module, layers: nn.ModuleList, env: DistEnv, source, seed: int = 0) -> nn.Module:
    """Shard the meta-built ``model`` (already wrapped for its training mode) and fill each rank's shards: real
    tensors (buffers) from before sharding, LoRA adapters from ``lora_init``, the rest from ``source``."""
    kept = {n: t.detach().clone() for n, t in [*model.named_parameters(), *model.named_buffers()] if not t.is_meta}
    emb = model.get_input_embeddings().weight
    emb_key = next(checkpoint_key(n) for n, p in model.named_parameters() if p is emb)
    shard(model, layers, env)
    model.to_empty(device=env.device)
    with torch.no_grad():
        for name, buf in model.named_buffers():
            if name in kept:
                buf.copy_(kept[name])
        for name, param in model.named_parameters():
            local = param.to_local() if hasattr(param, "to_local") else param
            lo, hi = owned_rows(param.shape[0], env.world, env.rank) if param.dim() else (0, 0)
            if name in kept or is_lora_param(name):
                full = kept[name] if name in kept else lora_init(name, tuple(param.shape), local.dtype, seed)
                local.copy_(full[lo:hi] if param.dim() else full)
                continue
            key = checkpoint_key(name)
            if key not in source.keys and key.endswith("lm_head.weight"):
                # A tied checkpoint stores the head once, under the embedding's name; an untied head (partial
                # mode) starts from that matrix.
                key = emb_key
            if key not in source.keys:
                raise FastpruneError(f"the source model has no tensor {key!r} that the model to train needs")
            rows = source.rows(key, lo, hi, tuple(param.shape), local.dtype)
            if tuple(rows.shape) != tuple(local.shape):
                raise FastpruneError(f"source tensor {key} rows {lo}:{hi} have shape {tuple(rows.shape)}; this "
                                     f"rank's shard needs {tuple(local.shape)}")
            local.copy_(rows)
    return model


def load_sharded(spec_str: str, dtype: torch.dtype, env: DistEnv, trust_remote_code: bool, seed: int,
                 prepare_mode=None):
    """(LoadedModel, what ``prepare_mode(loaded)`` returned) with the model built on ``meta``, wrapped for its
    mode there, then sharded and filled; without ``prepare_mode`` (a teacher) the second item is None."""
    from fastprune.models import LoadedModel, parse_model_spec

    spec = parse_model_spec(spec_str)
    config, tokenizer, path, source = source_for(spec, dtype, env, trust_remote_code, seed)
    model = meta_model(config, dtype)
    if path is not None and (path / "generation_config.json").is_file():
        from transformers import GenerationConfig

        model.generation_config = GenerationConfig.from_pretrained(path)
    loaded = LoadedModel(model, tokenizer, spec, path=path)
    mode = prepare_mode(loaded) if prepare_mode is not None else None
    root, layers = (mode.model, mode.layers) if mode is not None else (model, loaded.adapter.layers)
    materialise(root, layers, env, source, seed)
    return loaded, mode
