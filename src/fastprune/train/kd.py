"""Optional logit distillation from the unpruned teacher (beyond the paper's recipe).

Per target token the loss is ``(1 - alpha) * CE(student, response token) + alpha * T^2 * KL(teacher_T ||
student_T)`` with both distributions softened by temperature ``T`` (the T^2 keeps gradient scales comparable
across temperatures, as in Hinton et al.). It is summed over the same target tokens as the plain loss, so
the normalisation (and with it the rank/packing invariance) is unchanged. Works with every mode: the teacher
only supplies logits.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from fastprune.errors import FastpruneError
from fastprune.train.data import IGNORE


@dataclass
class Distiller:
    teacher: nn.Module
    alpha: float
    temperature: float

    def loss_sum(self, student_logits: torch.Tensor, batch: dict, model_inputs: dict) -> torch.Tensor:
        """Summed per-token KD loss over the batch's target positions (CE part included)."""
        with torch.no_grad():
            teacher_logits = self.teacher(**model_inputs, use_cache=False).logits
        keep = batch["targets"] != IGNORE
        s = student_logits[keep].float()
        t = teacher_logits[keep].float()
        ce = F.cross_entropy(s, batch["targets"][keep], reduction="sum")
        temp = self.temperature
        kl = F.kl_div(F.log_softmax(s / temp, -1), F.log_softmax(t / temp, -1), log_target=True,
                      reduction="sum")
        return (1.0 - self.alpha) * ce + self.alpha * temp * temp * kl


def load_teacher(spec: str, student: nn.Module, dtype: torch.dtype, trust_remote_code: bool = False) -> nn.Module:
    """The frozen teacher in eval mode on CPU (the caller places or shards it like the student)."""
    from fastprune.models import load_model

    teacher = load_model(spec, dtype=dtype, device="cpu", trust_remote_code=trust_remote_code).model
    return frozen_teacher(spec, teacher, student)


def frozen_teacher(spec: str, teacher: nn.Module, student: nn.Module) -> nn.Module:
    """``teacher`` frozen and in eval mode, once its vocabulary is checked against the student's."""
    s_vocab = student.get_output_embeddings().weight.shape[0]
    t_vocab = teacher.get_output_embeddings().weight.shape[0]
    if s_vocab != t_vocab:
        raise FastpruneError(f"--teacher {spec} has a vocabulary of {t_vocab} logits but the student has "
                             f"{s_vocab}; distillation needs the same tokenizer (use the unpruned model)")
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher.eval()


def check_kd_settings(alpha: float, temperature: float) -> None:
    if not 0.0 <= alpha <= 1.0:
        raise FastpruneError(f"--kd-alpha must be in [0, 1] (the weight of the distillation term), not {alpha}")
    if temperature <= 0:
        raise FastpruneError(f"--kd-temperature must be positive, not {temperature}")
