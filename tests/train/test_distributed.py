import json
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


def _saved(spec, path):
    """``spec`` written as a checkpoint dir: what users train (a pruned model), loaded from safetensors."""
    from fastprune.models import load_model

    loaded = load_model(spec, dtype="float32", seed=5)
    loaded.model.save_pretrained(path)
    loaded.tokenizer.save_pretrained(path)
    return str(path)


# Every mode, on the same global batch of 4 sequences: 2 ranks (killed after step 3 and resumed from the step-2
# checkpoint) against 1 rank run straight through. "accum" splits each rank's share into two micro-batches.
_BASE = dict(data=None, max_steps=4, max_seq_len=96, warmup_steps=1, device="cpu", seed=3, lora_dropout=0.0)
_MODES = {
    "full": dict(model="tiny:llama:3", mode="full", lr=1e-3),
    "partial": dict(model="tiny:llama:3", mode="partial", last_k=1, lr=1e-2),
    "lora": dict(model="tiny:qwen3:2", mode="lora", lr=1e-2, lora_r=4, lora_alpha=8),
    "kd": dict(model="tiny:llama:2", mode="lora", lr=1e-2, teacher="tiny:llama:3", kd_alpha=0.7,
               kd_temperature=2.0),
    "accum": dict(model="tiny:qwen2:2", mode="full", lr=1e-3),
}
_TWO_RANK_BATCH = {"accum": dict(batch_size=1, grad_accum=2)}


def _assert_same_run(a_dir, b_dir, what):
    from safetensors.torch import load_file

    a_log, b_log = read_log(a_dir / "train_log.jsonl"), read_log(b_dir / "train_log.jsonl")
    assert [r["step"] for r in a_log] == [r["step"] for r in b_log] == [1, 2, 3, 4], what
    assert [r["loss"] for r in a_log] == pytest.approx([r["loss"] for r in b_log], rel=1e-4), what
    assert [r["grad_norm"] for r in a_log] == pytest.approx([r["grad_norm"] for r in b_log], rel=1e-3), what
    a, b = load_file(a_dir / "model.safetensors"), load_file(b_dir / "model.safetensors")
    assert a.keys() == b.keys() and not any("lora" in k for k in a), what
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5, msg=lambda m, k=k: f"{what} {k}: {m}")


@pytest.mark.slow
def test_every_mode_on_two_ranks_killed_and_resumed_matches_one_rank(rows_file, tmp_path):
    data = rows_file(16)
    models = {spec: _saved(spec, tmp_path / spec.replace(":", "-")) for spec in ("tiny:llama:3", "tiny:qwen3:2",
                                                                                 "tiny:llama:2", "tiny:qwen2:2")}
    modes = {name: {**kw, "model": models[kw["model"]]} for name, kw in _MODES.items()}
    jobs = []
    for name, kw in modes.items():
        cfg = {**_BASE, **kw, "data": data, "out": str(tmp_path / f"{name}-2"), "save_every": 2,
               **_TWO_RANK_BATCH.get(name, {"batch_size": 2})}
        jobs.append({"config": cfg, "kill_after": 3})
    (tmp_path / "jobs.json").write_text(json.dumps(jobs))
    worker = Path(__file__).with_name("dist_worker.py")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(worker),
           str(tmp_path / "jobs.json")]
    proc = subprocess.run(cmd, env=_torchrun_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name, kw in modes.items():
        one = train(TrainConfig(**{**_BASE, **kw, "data": data, "out": str(tmp_path / f"{name}-1"), "batch_size": 4}))
        assert one["world_size"] == 1 and not one["fsdp2"]
        two = json.loads((tmp_path / f"{name}-2" / "train_summary.json").read_text())
        assert two["world_size"] == 2 and two["resumed_from_step"] == 2, name
        _assert_same_run(tmp_path / f"{name}-2", tmp_path / f"{name}-1", name)
