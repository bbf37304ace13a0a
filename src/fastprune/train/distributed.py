"""Process group from the torchrun environment, FSDP2 sharding, and deterministic data sharding.

One process on CPU trains the plain model. Under torchrun (or on any GPU) the model is sharded with FSDP2:
``fully_shard`` on each decoder layer, then on the root (embeddings, final norm, LM head). On GPU the
parameters stay fp32 and compute runs in bf16 with fp32 gradient reduction.
"""

from __future__ import annotations

import os
import socket

import torch
import torch.distributed as dist
from torch import nn

from fastprune.errors import FastpruneError
from fastprune.models.devices import resolve_device
from fastprune.models.distributed import DistEnv


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def setup(device: str | None = "auto") -> DistEnv:
    """Join torchrun's process group (gloo on CPU, nccl on GPU), or make a world of one on a GPU so single-GPU
    runs get the same FSDP2 mixed precision; on CPU without torchrun nothing is initialised. A process group the
    caller already initialised is used as it is (and left open)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, "--device")
    if dev.type not in ("cpu", "cuda"):
        raise FastpruneError(f"unknown --device {device!r}; use auto, cpu or cuda[:N]")
    if dev.type == "cuda":
        dev = torch.device("cuda", local_rank if world > 1 or dev.index is None else dev.index)
        torch.cuda.set_device(dev)
    if world == 1 and dev.type == "cpu" and not dist.is_initialized():
        return DistEnv(0, 1, 0, dev, sharded=False, owns_group=False)
    owns = False
    if not dist.is_initialized():
        if world == 1:
            os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
            os.environ.setdefault("MASTER_PORT", str(_free_port()))
        backend = "nccl" if dev.type == "cuda" else "gloo"
        dist.init_process_group(backend, rank=rank, world_size=world,
                                device_id=dev if dev.type == "cuda" else None)
        owns = True
    return DistEnv(dist.get_rank(), dist.get_world_size(), local_rank, dev, sharded=True, owns_group=owns)


def shard(model: nn.Module, layers: nn.ModuleList, env: DistEnv) -> nn.Module:
    """FSDP2: each decoder layer is one all-gather unit, the root holds the rest."""
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    kwargs = {}
    if env.device.type == "cuda":
        kwargs["mp_policy"] = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
    for i, layer in enumerate(layers):
        # The last layer's parameters are needed again at once by backward: keeping them gathered saves
        # one all-gather per step (torchtitan does the same).
        fully_shard(layer, reshard_after_forward=i < len(layers) - 1, **kwargs)
    fully_shard(model, **kwargs)
    return model


def step_slices(num_sequences: int, global_batch: int, micro_batch: int, world: int, rank: int,
                step: int) -> list[range]:
    """Indices of this rank's micro-batches for ``step``: a step takes ``global_batch`` consecutive
    sequences (the last step whatever is left); micro-batch m of rank r is the slice starting at
    ``m * micro_batch * world + r * micro_batch``. So a run's global batches do not depend on the number of
    ranks, which is what makes a 2-rank run match a 1-rank run, and a resume at step s start at sequence
    ``s * global_batch``."""
    start = step * global_batch
    stop = min(start + global_batch, num_sequences)
    out = []
    for m in range(global_batch // (micro_batch * world)):
        lo = start + (m * world + rank) * micro_batch
        out.append(range(min(lo, stop), min(lo + micro_batch, stop)))
    return out
