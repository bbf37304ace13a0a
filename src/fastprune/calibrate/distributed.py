"""Multi-process calibration under ``torchrun``: process group from the environment, float64 sums.

Only the accumulators cross processes (at checkpoints and at the end), plus a one-element flag per batch
when ``--on-nan error`` must stop every rank together instead of leaving the others waiting.
"""

from __future__ import annotations

import os

import torch

from fastprune.models.distributed import DistEnv


def init_from_env(device_type: str = "cpu") -> DistEnv:
    """Join (or create from torchrun's env vars) the default process group; single process otherwise."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        ctx = DistEnv(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)), sharded=True)
    elif int(os.environ.get("WORLD_SIZE", "1")) > 1:
        backend = "nccl" if device_type == "cuda" else "gloo"
        if device_type == "cuda":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        dist.init_process_group(backend=backend)
        ctx = DistEnv(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)), sharded=True,
                      owns_group=True)
    else:
        return DistEnv()
    if dist.get_backend() == "nccl":
        ctx.device = torch.device("cuda", torch.cuda.current_device())
    return ctx


def local_rank_from_env() -> int:
    return int(os.environ.get("LOCAL_RANK", 0)) if int(os.environ.get("WORLD_SIZE", "1")) > 1 else 0
