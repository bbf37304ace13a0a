import torch

from fastprune.train.metrics import StepLog, flops_per_token, gpu_peak_flops, measure_matmul_peak, read_log
from fastprune.train.modes import prepare


def test_flops_count_only_what_is_trained(tiny):
    full = tiny("qwen3", layers=4)
    prepare(full.model, full.adapter.layers, "full")
    f_full = flops_per_token(full.model, full.adapter.layers, 0, seq_len=0)
    layers = sum(p.numel() for p in full.adapter.layers.parameters())
    assert f_full == 6 * (layers + full.model.lm_head.weight.numel())  # the 6N rule without the lookup

    part = tiny("qwen3", layers=4)
    setup = prepare(part.model, part.adapter.layers, "partial", last_k=1)
    f_part = flops_per_token(part.model, part.adapter.layers, setup.first_trained_layer, seq_len=0)
    layer = sum(p.numel() for p in part.adapter.layers[0].parameters())
    head = part.model.lm_head.weight.numel()
    # forward everything; input-gradients only through the last layer and head; weight-gradients for them.
    assert f_part == 2 * (4 * layer + head) + 2 * (layer + head) + 2 * (layer + head)
    assert f_part < f_full
    attn = flops_per_token(full.model, full.adapter.layers, 0, seq_len=100) - f_full
    assert attn == 12 * 4 * 100 * 4 * 16  # 12 x layers x context x heads x head_dim


def test_step_log_resume_drops_steps_after_the_checkpoint(tmp_path):
    path = tmp_path / "log.jsonl"
    log = StepLog(path)
    for step in range(1, 6):
        log.write({"step": step, "loss": 1.0 / step})
    with path.open("a") as f:
        f.write('{"step": 6, "lo')  # cut by a kill
    StepLog(path, resume_step=3).write({"step": 4, "loss": 9.0})
    assert [(r["step"], r["loss"]) for r in read_log(path)] == [(1, 1.0), (2, 0.5), (3, 1 / 3), (4, 9.0)]
    StepLog(path, resume_step=0)  # a fresh start forgets everything
    assert read_log(path) == []
    StepLog(tmp_path / "other.jsonl", enabled=False).write({"step": 1})  # ranks other than 0 write nothing
    assert not (tmp_path / "other.jsonl").exists()


def test_peaks():
    assert gpu_peak_flops(torch.device("cpu")) is None
    measured = measure_matmul_peak(torch.device("cpu"), size=128, seconds=0.05)
    assert measured > 1e6
