"""The trained FSDP2 model written as a plain HF checkpoint without gathering it whole on any rank.

Parameters are all-gathered one at a time (every rank, same order); rank 0 merges LoRA into its base weight
(``W + scaling * B @ A``, what peft's ``merge_and_unload`` computes), casts to the output dtype and appends it
to the current safetensors shard, which is written once it reaches ``max_shard_bytes``. Rank 0's peak is one
shard plus one layer, not the model. The shard names and the index follow ``save_pretrained``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from fastprune.train.distributed import DistEnv
from fastprune.train.sharded_load import checkpoint_key
from fastprune.utils_io import atomic_write_json

MAX_SHARD_BYTES = 2 * 1024**3


def _full(t: torch.Tensor) -> torch.Tensor:
    return t.full_tensor() if hasattr(t, "full_tensor") else t


def _lora_layers(model: nn.Module) -> dict[str, nn.Module]:
    """Name of each LoRA-wrapped base weight (as the model names it) -> its peft layer."""
    from peft.tuners.lora import LoraLayer

    out = {}
    for name, module in model.named_modules():
        if isinstance(module, LoraLayer):
            if getattr(module, "use_dora", {}).get("default") or module.fan_in_fan_out:
                raise NotImplementedError("streaming export merges plain LoRA on nn.Linear only")
            out[f"{name}.base_layer.weight"] = module
    return out


def _plan(entries: list[tuple[str, int]], max_bytes: int) -> list[list[str]]:
    """Keys grouped greedily into shards of at most ``max_bytes`` (a bigger tensor gets a shard alone)."""
    shards, size = [[]], 0
    for key, nbytes in entries:
        if shards[-1] and size + nbytes > max_bytes:
            shards.append([])
            size = 0
        shards[-1].append(key)
        size += nbytes
    return shards


def stream_plain_checkpoint(model: nn.Module, env: DistEnv, dtype: torch.dtype, out_dir: Path,
                            max_shard_bytes: int = MAX_SHARD_BYTES) -> None:
    """Write the merged weights of ``model`` (a sharded HF model or a PeftModel around one) into ``out_dir``
    (rank 0); collective. Config, tokenizer and the rest are the caller's."""
    from safetensors.torch import save_file

    lora = _lora_layers(model)
    names = [n for n, _ in model.named_parameters() if ".lora_" not in n]  # deduplicated: a tied head is absent
    params = dict(model.named_parameters())
    persistent = [(n, b) for n, b in _persistent_buffers(model)]
    itemsize = torch.empty((), dtype=dtype).element_size()
    entries = [(checkpoint_key(n), params[n].numel() * itemsize) for n in names]
    entries += [(checkpoint_key(n), b.numel() * b.element_size()) for n, b in persistent]
    plan = _plan(entries, max_shard_bytes)
    files = (["model.safetensors"] if len(plan) == 1
             else [f"model-{i + 1:05d}-of-{len(plan):05d}.safetensors" for i in range(len(plan))])
    shard_of = {key: i for i, keys in enumerate(plan) for key in keys}
    tensors = {**{checkpoint_key(n): params[n] for n in names}, **{checkpoint_key(n): b for n, b in persistent}}
    pending: dict[str, torch.Tensor] = {}
    current = 0
    with torch.no_grad():
        for name in [*names, *(n for n, _ in persistent)]:
            key = checkpoint_key(name)
            full = _full(tensors[key])
            layer = lora.get(name)
            if layer is not None:
                a, b = _full(layer.lora_A["default"].weight), _full(layer.lora_B["default"].weight)
                full = full.float() + layer.scaling["default"] * (b.float() @ a.float())
            if env.is_main:
                pending[key] = full.to("cpu", dtype if full.is_floating_point() else full.dtype).contiguous()
                if shard_of[key] != current:
                    raise AssertionError("parameters left their planned order")
                if key == plan[current][-1]:
                    save_file(pending, str(out_dir / files[current]), metadata={"format": "pt"})
                    pending, current = {}, current + 1
            del full
    if env.is_main and len(plan) > 1:
        total = sum(n for _, n in entries)
        atomic_write_json(out_dir / "model.safetensors.index.json",
                          {"metadata": {"total_size": total},
                           "weight_map": {key: files[shard_of[key]] for key, _ in entries}})


def _persistent_buffers(model: nn.Module):
    for mod_name, module in model.named_modules():
        for name, buf in module.named_buffers(recurse=False):
            if name not in module._non_persistent_buffers_set:
                yield (f"{mod_name}.{name}" if mod_name else name), buf
