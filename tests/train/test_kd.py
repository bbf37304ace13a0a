import copy

import pytest
import torch
import torch.nn.functional as F

from fastprune.errors import FastpruneError
from fastprune.models import tiny_model
from fastprune.train import TrainConfig, train
from fastprune.train.data import IGNORE
from fastprune.train.kd import Distiller, load_teacher
from fastprune.train.metrics import read_log


class _Fixed(torch.nn.Module):
    """A 'teacher' returning given logits."""

    def __init__(self, logits):
        super().__init__()
        self.logits = logits

    def forward(self, **_):
        return type("Out", (), {"logits": self.logits})()


def test_kd_loss_is_weighted_ce_plus_scaled_kl_on_target_tokens_only():
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(2, 5, 11, generator=g), torch.randn(2, 5, 11, generator=g)
    targets = torch.tensor([[IGNORE, 3, 4, IGNORE, IGNORE], [1, IGNORE, IGNORE, 7, IGNORE]])
    got = Distiller(_Fixed(t), alpha=0.3, temperature=2.0).loss_sum(s, {"targets": targets}, {})
    keep = targets != IGNORE
    ce = F.cross_entropy(s[keep], targets[keep], reduction="sum")
    p_t = F.softmax(t[keep] / 2, -1)
    kl = (p_t * (p_t.log() - F.log_softmax(s[keep] / 2, -1))).sum()
    torch.testing.assert_close(got, 0.7 * ce + 0.3 * 4 * kl)


def test_identical_teacher_gives_zero_distillation_loss():
    student = tiny_model("qwen3", 2)
    teacher = copy.deepcopy(student)
    ids = torch.randint(0, 256, (2, 9), generator=torch.Generator().manual_seed(1))
    targets = torch.full_like(ids, IGNORE)
    targets[:, 4:8] = ids[:, 5:9]
    inputs = {"input_ids": ids}
    logits = student(**inputs).logits
    loss = Distiller(teacher, alpha=1.0, temperature=1.0).loss_sum(logits, {"targets": targets}, inputs)
    assert abs(float(loss.detach())) < 1e-4


def test_teacher_with_another_vocabulary_is_refused():
    student = tiny_model("llama", 2, vocab_size=400)
    with pytest.raises(FastpruneError, match="same tokenizer"):
        load_teacher("tiny:llama:2", student, torch.float32)


def test_kd_with_alpha_zero_trains_exactly_like_plain_sft(rows_file, tmp_path):
    data = rows_file(8)
    kw = dict(model="tiny:llama:2", data=data, mode="full", lr=1e-3, max_steps=2, max_seq_len=128,
              warmup_steps=1, device="cpu", batch_size=4)
    train(TrainConfig(out=str(tmp_path / "plain"), **kw))
    train(TrainConfig(out=str(tmp_path / "kd0"), teacher="tiny:llama:4", kd_alpha=0.0, **kw))
    train(TrainConfig(out=str(tmp_path / "kd1"), teacher="tiny:llama:4", kd_alpha=1.0, kd_temperature=2.0, **kw))
    plain, kd0, kd1 = (read_log(tmp_path / n / "train_log.jsonl") for n in ("plain", "kd0", "kd1"))
    assert [r["loss"] for r in kd0] == pytest.approx([r["loss"] for r in plain], rel=1e-6)
    assert kd1[0]["loss"] != pytest.approx(plain[0]["loss"], rel=1e-3)  # the teacher term is really used


def test_bad_kd_settings():
    with pytest.raises(FastpruneError, match="--kd-alpha"):
        TrainConfig(model="m", data="d", out="o", teacher="t", kd_alpha=1.5)
    with pytest.raises(FastpruneError, match="--kd-temperature"):
        TrainConfig(model="m", data="d", out="o", teacher="t", kd_temperature=0)
