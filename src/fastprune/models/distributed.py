"""This process's place in a ``torchrun`` job, and the few collectives the stages need.

One shape for every stage: calibrate sums its float64 accumulators with it, train shards and averages
with it. Who creates the process group (and on which device) stays with each stage's ``setup``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistEnv:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device | None = None  # where collectives run (nccl needs CUDA tensors); None: where they are
    sharded: bool = False  # a process group is in use
    owns_group: bool = False  # this code created the process group and must destroy it

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def _collective(self) -> bool:
        return self.sharded and self.world > 1

    def all_reduce_sum(self, tensor: torch.Tensor) -> None:
        """Sum ``tensor`` over ranks, in place (moved to ``device`` for the collective and back)."""
        if not self._collective:
            return
        work = tensor.to(self.device) if self.device is not None else tensor
        dist.all_reduce(work, op=dist.ReduceOp.SUM)
        if work is not tensor:
            tensor.copy_(work.to(tensor.device))

    def sum(self, value: float) -> float:
        """Sum of a float over ranks."""
        t = torch.tensor([value], dtype=torch.float64)
        self.all_reduce_sum(t)
        return float(t.item())

    def any(self, flag: bool) -> bool:
        """True on every rank when ``flag`` is true on any rank."""
        return self.sum(1.0 if flag else 0.0) > 0

    def barrier(self) -> None:
        if self.sharded:
            dist.barrier()

    def close(self) -> None:
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()
        self.owns_group = False
