import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

import fastprune
from fastprune.train import TrainConfig, train
from fastprune.train.distributed import step_slices
from fastprune.train.metrics import read_log


def test_step_slices_cover_each_global_batch_once_whatever_the_world_size():
    for world, micro, accum in [(1, 4, 1), (2, 2, 1), (2, 1, 2), (4, 1, 1)]:
        g = micro * accum * world
        for step in range(3):  # 10 sequences: the last step is partial
            got = sorted(i for r in range(world) for part in step_slices(10, g, micro, world, r, step) for i in part)
            assert got == list(range(step * 4, min(step * 4 + 4, 10)))


def _torchrun_env():
    env = dict(os.environ)
    src = str(Path(fastprune.__file__).resolve().parents[1])
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    env.update(OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TRANSFORMERS_VERBOSITY="error")
    return env


@pytest.mark.slow
def test_two_gloo_ranks_with_fsdp2_match_one_rank(rows_file, tmp_path):
    data = rows_file(32)  # packed two or three to a sequence: enough for 3 steps of 4 sequences
    common = ["--data", data, "--mode", "full", "--lr", "1e-3", "--max-steps", "3", "--max-seq-len", "128",
              "--warmup-steps", "1", "--device", "cpu", "--seed", "1", "--save-every", "2", "--keep-state", "--pack"]
    out2 = tmp_path / "two"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m",
           "fastprune", "train", "tiny:llama:2", "--out", str(out2), "--batch-size", "2", *common]
    proc = subprocess.run(cmd, env=_torchrun_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    one = train(TrainConfig(model="tiny:llama:2", data=data, out=str(tmp_path / "one"), mode="full", lr=1e-3,
                            max_steps=3, max_seq_len=128, warmup_steps=1, device="cpu", seed=1, batch_size=4,
                            pack=True))
    two_log, one_log = read_log(out2 / "train_log.jsonl"), read_log(tmp_path / "one" / "train_log.jsonl")
    assert [r["loss"] for r in two_log] == pytest.approx([r["loss"] for r in one_log], rel=1e-4)
    assert [r["grad_norm"] for r in two_log] == pytest.approx([r["grad_norm"] for r in one_log], rel=1e-4)
    assert one["world_size"] == 1 and one["steps"] == 3
    # The sharded checkpoint was written by both ranks; the gathered output is a plain, complete model.
    ckpt = tmp_path / "two.train" / "checkpoints" / "step_00000002"
    assert (ckpt / "meta.json").is_file() and (ckpt / "rng_rank1.pt").is_file()
    from safetensors.torch import load_file

    a, b = load_file(out2 / "model.safetensors"), load_file(tmp_path / "one" / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].shape == b[k].shape
        assert (a[k] - b[k]).abs().max() < 1e-4, k


def test_lora_under_fsdp2_in_a_caller_made_group_matches_plain_lora(rows_file, tmp_path):
    """The FSDP2 path (sharded LoRA, gathered to rank 0, merged, saved) against the unsharded path, in one
    process: a gloo group of one rank made by the caller is used by train() and left open."""
    from safetensors.torch import load_file

    data = rows_file(8)
    kw = dict(model="tiny:qwen3:2", data=data, mode="lora", lr=1e-2, max_steps=2, max_seq_len=128,
              warmup_steps=1, device="cpu", seed=2, batch_size=4, lora_dropout=0.0)
    plain = train(TrainConfig(out=str(tmp_path / "plain"), **kw))
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        sharded = train(TrainConfig(out=str(tmp_path / "sharded"), **kw))
        assert dist.is_initialized()
    finally:
        dist.destroy_process_group()
    assert [r["loss"] for r in read_log(tmp_path / "sharded" / "train_log.jsonl")] == pytest.approx(
        [r["loss"] for r in read_log(tmp_path / "plain" / "train_log.jsonl")], rel=1e-5)
    assert sharded["fsdp2"] and not plain["fsdp2"]
    assert sharded["final"]["grad_norm"] == pytest.approx(plain["final"]["grad_norm"], rel=1e-4)
    a, b = load_file(tmp_path / "sharded" / "model.safetensors"), load_file(tmp_path / "plain" / "model.safetensors")
    assert a.keys() == b.keys() and not any("lora" in k for k in a)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)
