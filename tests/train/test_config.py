import pytest

from fastprune.errors import FastpruneError
from fastprune.train import TrainConfig


def test_paper_defaults():
    cfg = TrainConfig(model="m", data="d.jsonl", out="o")
    assert (cfg.mode, cfg.lr, cfg.warmup_steps, cfg.epochs) == ("lora", 2e-4, 50, 1)
    assert (cfg.beta1, cfg.beta2, cfg.weight_decay, cfg.grad_clip) == (0.9, 0.99, 1e-4, 1.0)
    assert (cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout) == (16, 32, 0.05)
    q = TrainConfig(model="m", data="d", out="o", mode="qlora")
    assert (q.lora_r, q.lora_alpha, q.lr) == (64, 16, 2e-4)
    assert TrainConfig(model="m", data="d", out="o", mode="qlora", lora_r=8).lora_r == 8
    assert TrainConfig(model="m", data="d", out="o", mode="full").lr == 2e-5


def test_constant_schedule_after_linear_warmup():
    cfg = TrainConfig(model="m", data="d", out="o", lr=1.0, warmup_steps=4)
    assert [cfg.lr_at(s) for s in range(7)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0, 1.0]
    assert TrainConfig(model="m", data="d", out="o", lr=1.0, warmup_steps=0).lr_at(0) == 1.0


def test_state_dir_sits_beside_out(tmp_path):
    cfg = TrainConfig(model="m", data="d", out=str(tmp_path / "run" / "out"))
    assert cfg.state_dir == tmp_path / "run" / "out.train"


@pytest.mark.parametrize("kw, match", [
    ({"mode": "kd2"}, "unknown --mode"), ({"lr": 0}, "--lr"), ({"batch_size": 0}, "--batch-size"),
    ({"grad_accum": 0}, "--grad-accum"), ({"max_seq_len": 1}, "--max-seq-len"), ({"max_steps": 0}, "--max-steps"),
    ({"save_every": -1}, "--save-every"), ({"epochs": 0}, "--epochs"), ({"peak_flops": -1.0}, "--peak-flops"),
])
def test_bad_settings(kw, match):
    with pytest.raises(FastpruneError, match=match):
        TrainConfig(model="m", data="d", out="o", **kw)
