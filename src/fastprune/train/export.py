"""The trained FSDP2 model written as a plain HF checkpoint without gathering it whole on any rank.

Parameters are all-gathered one at a time (every rank, same order); rank 0 merges LoRA into its base weight
(``W + scaling * B @ A``, what peft's ``merge_and_unload`` computes), casts it to the output dtype and appends
its bytes to the current safetensors file, whose header is written first (every shape is known up front). So
rank 0 holds one gathered tensor at a time, not the model and not a whole shard (the safetensors library only
writes from a complete dict). File names and the index follow ``save_pretrained``.
"""

from __future__ import annotations

import json
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
    shapes = {checkpoint_key(n): tuple(t.shape) for n, t in [*((n, params[n]) for n in names), *persistent]}
    dtypes = {k: dtype if tensors[k].is_floating_point() else tensors[k].dtype for k in tensors}
    writer = None
    with torch.no_grad():
        for name in [*names, *(n for n, _ in persistent)]:
            key = checkpoint_key(name)
            full = _full(tensors[key])
            layer = lora.get(name)
            if layer is not None:
                a, b = _full(layer.lora_A["default"].weight), _full(layer.lora_B["default"].weight)
                full = full.float() + layer.scaling["default"] * (b.float() @ a.float())
            if env.is_main:
                i = shard_of[key]
                if writer is None:
                    writer = _SafetensorsWriter(out_dir / files[i], [(k, shapes[k], dtypes[k]) for k in plan[i]])
                writer.write(key, full.to("cpu", dtypes[key]))
                if key == plan[i][-1]:
                    writer.close()
                    writer = None
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


_ST_DTYPES = {torch.float32: "F32", torch.bfloat16: "BF16", torch.float16: "F16", torch.int64: "I64",
              torch.int32: "I32", torch.bool: "BOOL", torch.uint8: "U8"}


class _SafetensorsWriter:
    """One safetensors file written tensor by tensor: the header (names, dtypes, shapes, offsets, in file
    order) first, then each tensor's bytes as it arrives, in the planned order."""

    def __init__(self, path: Path, entries: list[tuple[str, tuple, torch.dtype]]):
        header, offset = {"__metadata__": {"format": "pt"}}, 0
        for key, shape, dtype in entries:
            nbytes = torch.empty((), dtype=dtype).element_size() * int(torch.Size(shape).numel())
            header[key] = {"dtype": _ST_DTYPES[dtype], "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
            offset += nbytes
        raw = json.dumps(header, separators=(",", ":")).encode()
        raw += b" " * (-len(raw) % 8)  # the data section starts 8-byte aligned
        self._order = [k for k, _, _ in entries]
        self._next = 0
        self._file = open(path, "wb")  # noqa: SIM115 - closed by close() after the last tensor
        self._file.write(len(raw).to_bytes(8, "little") + raw)

    def write(self, key: str, tensor: torch.Tensor) -> None:
        if self._order[self._next] != key:
            raise AssertionError(f"tensor {key} arrived out of the planned order")
        self._next += 1
        self._file.write(tensor.contiguous().view(-1).view(torch.uint8).numpy().data)

    def close(self) -> None:
        if self._next != len(self._order):
            raise AssertionError("a safetensors file was closed before all its tensors were written")
        self._file.close()
