"""models.distributed.DistEnv: one process-group wrapper for calibrate and train."""

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from fastprune.models.distributed import DistEnv


def test_a_world_of_one_needs_no_process_group():
    env = DistEnv()
    assert env.is_main and env.sum(2.5) == 2.5 and env.any(True) and not env.any(False)
    t = torch.tensor([1.0, 2.0], dtype=torch.float64)
    env.all_reduce_sum(t)
    assert t.tolist() == [1.0, 2.0]
    env.barrier()
    env.close()


def _worker(rank: int, store: str, out: str):
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    env = DistEnv(rank, 2, rank, torch.device("cpu"), sharded=True, owns_group=True)
    t = torch.tensor([float(rank + 1), 10.0], dtype=torch.float64)
    env.all_reduce_sum(t)
    result = [t.tolist(), env.sum(rank * 0.5), env.any(rank == 1), env.any(False), env.is_main]
    env.barrier()
    env.close()
    torch.save(result, f"{out}.{rank}")


def test_two_gloo_ranks_sum_and_agree(tmp_path):
    # fork: the workers need nothing re-imported, which keeps this a few-second test
    mp.start_processes(_worker, args=(str(tmp_path / "store"), str(tmp_path / "out")), nprocs=2, join=True,
                       start_method="fork")
    got = [torch.load(tmp_path / f"out.{r}") for r in range(2)]
    for rank, (summed, total, some, none, main) in enumerate(got):
        assert summed == [3.0, 20.0] and total == 0.5 and some is True and none is False and main == (rank == 0)
