"""Multi-process calibration under ``torchrun``: process group from the environment, float64 sums.

Only the accumulators cross processes (at checkpoints and at the end), plus a one-element flag per batch
when ``--on-nan error`` must stop every rank together instead of leaving the others waiting.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch


@dataclass
class DistContext:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    owns_group: bool = False  # we created the process group, so we tear it down
    device: torch.device | None = None  # where collectives run (nccl needs CUDA tensors)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def all_reduce_sum(self, tensor: torch.Tensor) -> None:
        if self.world == 1:
            return
        import torch.distributed as dist

        work = tensor.to(self.device) if self.device is not None else tensor
        dist.all_reduce(work, op=dist.ReduceOp.SUM)
        if work is not tensor:
            tensor.copy_(work.cpu())

    def any(self, flag: bool) -> bool:
        """True on every rank when ``flag`` is true on any rank."""
        if self.world == 1:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], dtype=torch.float64)
        self.all_reduce_sum(t)
        return bool(t.item() > 0)

    def barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()

    def close(self) -> None:
        if self.owns_group:
            import torch.distributed as dist

            dist.destroy_process_group()
            self.owns_group = False


def init_from_env(device_type: str = "cpu") -> DistContext:
    """Join (or create from torchrun's env vars) the default process group; single process otherwise."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        ctx = DistContext(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))
    elif int(os.environ.get("WORLD_SIZE", "1")) > 1:
        backend = "nccl" if device_type == "cuda" else "gloo"
        if device_type == "cuda":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        dist.init_process_group(backend=backend)
        ctx = DistContext(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)), True)
    else:
        return DistContext()
    if dist.get_backend() == "nccl":
        ctx.device = torch.device("cuda", torch.cuda.current_device())
    return ctx


def local_rank_from_env() -> int:
    return int(os.environ.get("LOCAL_RANK", 0)) if int(os.environ.get("WORLD_SIZE", "1")) > 1 else 0
