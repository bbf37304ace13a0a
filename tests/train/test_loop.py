import pytest
import torch

from fastprune.errors import FastpruneError
from fastprune.train import TrainConfig, train
from fastprune.train.metrics import read_log


def _cfg(data, out, **kw):
    base = dict(model="tiny:qwen3:2", data=data, out=str(out), mode="lora", batch_size=4, max_seq_len=128,
                warmup_steps=2, device="cpu")
    return TrainConfig(**{**base, **kw})


def _losses(path):
    return [r["loss"] for r in read_log(path)]


def test_full_training_lowers_the_loss(rows_file, tmp_path):
    data = rows_file(8)
    train(_cfg(data, tmp_path / "o", mode="full", lr=3e-3, epochs=6, batch_size=8, peak_flops=1e9))
    log = read_log(tmp_path / "o" / "train_log.jsonl")
    assert len(log) == 6 and log[-1]["loss"] < 0.8 * log[0]["loss"]
    assert all(r["mfu"] > 0 for r in log)  # given a peak, MFU is reported


def test_grad_accum_and_activation_checkpointing_match_a_bigger_batch(rows_file, tmp_path):
    data = rows_file(16)
    train(_cfg(data, tmp_path / "a", mode="full", lr=1e-3, batch_size=4, grad_accum=1, max_steps=3))
    train(_cfg(data, tmp_path / "b", mode="full", lr=1e-3, batch_size=2, grad_accum=2, max_steps=3,
               activation_checkpointing=True))
    a, b = _losses(tmp_path / "a" / "train_log.jsonl"), _losses(tmp_path / "b" / "train_log.jsonl")
    assert a == pytest.approx(b, rel=1e-5)


def test_killed_run_resumes_the_same_loss_curve(rows_file, tmp_path):
    data = rows_file(24)
    # LoRA dropout on: the resumed steps only match if the RNG state was restored too.
    straight = train(_cfg(data, tmp_path / "straight", max_steps=6, batch_size=4, lr=1e-3))
    assert straight["steps"] == 6

    def kill_after_3(record):
        if record["step"] == 3:
            raise KeyboardInterrupt("simulated kill")

    out = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        train(_cfg(data, out, max_steps=6, batch_size=4, lr=1e-3, save_every=3), on_step=kill_after_3)
    ckpt = tmp_path / "resumed.train" / "checkpoints" / "step_00000003"
    assert not out.exists() and ckpt.is_dir()
    # Only what trains is checkpointed: the frozen base comes back from the source model.
    import torch.distributed.checkpoint as dcp

    keys = [k for k in dcp.FileSystemReader(str(ckpt)).read_metadata().state_dict_metadata if k.startswith("model.")]
    assert keys and all("lora_" in k for k in keys)
    resumed = train(_cfg(data, out, max_steps=6, batch_size=4, lr=1e-3, save_every=3))
    assert resumed["resumed_from_step"] == 3
    log = read_log(out / "train_log.jsonl")
    assert [r["step"] for r in log] == [1, 2, 3, 4, 5, 6]
    assert [r["loss"] for r in log] == pytest.approx(_losses(tmp_path / "straight" / "train_log.jsonl"), rel=1e-5)
    from safetensors.torch import load_file

    # The two final checkpoints hold the same weights.

    wa, wb = load_file(tmp_path / "straight" / "model.safetensors"), load_file(out / "model.safetensors")
    assert wa.keys() == wb.keys()
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=1e-5, atol=1e-6)


def test_resume_with_changed_settings_is_refused(rows_file, tmp_path):
    data = rows_file(16)

    def stop(record):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(_cfg(data, tmp_path / "o", max_steps=4, save_every=1), on_step=stop)
    with pytest.raises(FastpruneError, match="global_batch"):
        train(_cfg(data, tmp_path / "o", max_steps=4, save_every=1, batch_size=2))


def test_existing_out_needs_overwrite(rows_file, tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    with pytest.raises(FastpruneError, match="--overwrite"):
        train(_cfg(rows_file(4), out))


def test_accumulation_under_fsdp2_reduce_scatters_once_per_step(tiny, monkeypatch):
    """Three micro-batches, one reduce per FSDP unit: the first two only accumulate locally."""
    import torch.distributed as dist
    from torch.distributed.fsdp._fully_shard import _fsdp_param_group

    from fastprune.train.distributed import DistEnv, shard
    from fastprune.train.loop import optimizer_step

    calls = []
    real = _fsdp_param_group.foreach_reduce

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(_fsdp_param_group, "foreach_reduce", counting)
    loaded = tiny("qwen3", layers=2)
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        model = shard(loaded.model.train(), loaded.adapter.layers, DistEnv(0, 1, 0, torch.device("cpu"), True, False))
        params = list(model.parameters())
        opt = torch.optim.AdamW(params, lr=1e-3)
        g = torch.Generator().manual_seed(0)
        batches = []
        for _ in range(3):
            ids = torch.randint(0, 256, (2, 10), generator=g)
            batches.append({"input_ids": ids, "targets": ids})
        optimizer_step(model, batches, 60, 1, params, opt, 1.0)
    finally:
        dist.destroy_process_group()
    assert len(calls) == 3  # two decoder layers and the root, once each
