"""Settings of one training run, with the paper's recipe as defaults.

Paper defaults (LoRA recovery on self-responses): lr 2e-4, constant schedule after 50 linear warmup steps,
AdamW betas (0.9, 0.99), weight decay 1e-4, gradient clipping at 1.0, one epoch, loss on responses only.
QLoRA uses r=64, alpha=16; LoRA r=16, alpha=32, dropout 0.05. Full and partial training default to a 10x
smaller learning rate (2e-5): every weight moves, not a low-rank update.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from fastprune.errors import FastpruneError
from fastprune.train.modes import MODES

DEFAULT_LR = {"lora": 2e-4, "qlora": 2e-4, "full": 2e-5, "partial": 2e-5}
DEFAULT_LORA = {"lora": (16, 32), "qlora": (64, 16)}  # (r, alpha)


@dataclass
class TrainConfig:
    model: str
    data: str
    out: str
    mode: str = "lora"
    lr: float | None = None  # None: DEFAULT_LR[mode]
    epochs: int = 1
    max_steps: int | None = None
    batch_size: int = 4  # sequences per micro-batch per rank
    grad_accum: int = 1
    max_seq_len: int = 1024
    pack: bool = False
    lora_r: int | None = None  # None: DEFAULT_LORA[mode]
    lora_alpha: int | None = None
    lora_dropout: float = 0.05
    last_k: int = 4
    warmup_steps: int = 50
    weight_decay: float = 1e-4
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0
    save_every: int = 0  # 0: no intermediate checkpoints
    seed: int = 0
    dtype: str = "auto"  # parameter (master) dtype; auto = float32 (compute is bf16 on GPU via FSDP2)
    save_dtype: str = "auto"  # auto: the source checkpoint's dtype, else the training dtype
    device: str = "auto"
    activation_checkpointing: bool = False
    teacher: str | None = None  # optional logit distillation from this (unpruned) model
    kd_alpha: float = 0.5  # weight of the distillation term; 1 - kd_alpha on the plain cross-entropy
    kd_temperature: float = 1.0
    chat_template: bool = True
    peak_flops: float | None = None  # per device; None: a data-sheet value on known GPUs, else MFU is null
    overwrite: bool = False
    keep_state: bool = False  # keep OUT.train (checkpoints) after success
    trust_remote_code: bool = False

    def __post_init__(self):
        if self.mode not in MODES:
            raise FastpruneError(f"unknown --mode {self.mode!r}; use one of {', '.join(MODES)}")
        if self.lr is None:
            self.lr = DEFAULT_LR[self.mode]
        r, alpha = DEFAULT_LORA.get(self.mode, (16, 32))
        self.lora_r = r if self.lora_r is None else self.lora_r
        self.lora_alpha = alpha if self.lora_alpha is None else self.lora_alpha
        checks = [
            (self.lr > 0, f"--lr must be positive, not {self.lr}"),
            (self.epochs >= 1, f"--epochs must be at least 1, not {self.epochs}"),
            (self.max_steps is None or self.max_steps >= 1, f"--max-steps must be at least 1, not {self.max_steps}"),
            (self.batch_size >= 1, f"--batch-size must be at least 1, not {self.batch_size}"),
            (self.grad_accum >= 1, f"--grad-accum must be at least 1, not {self.grad_accum}"),
            (self.max_seq_len >= 2, f"--max-seq-len must be at least 2, not {self.max_seq_len}"),
            (self.save_every >= 0, f"--save-every must be >= 0 (0 disables), not {self.save_every}"),
            (self.warmup_steps >= 0, f"--warmup-steps must be >= 0, not {self.warmup_steps}"),
            (self.grad_clip > 0, f"--grad-clip must be positive, not {self.grad_clip}"),
            (self.peak_flops is None or self.peak_flops > 0, "--peak-flops must be positive (FLOP/s per device)"),
        ]
        for ok, msg in checks:
            if not ok:
                raise FastpruneError(msg)
        if self.teacher is not None:
            from fastprune.train.kd import check_kd_settings

            check_kd_settings(self.kd_alpha, self.kd_temperature)

    @property
    def out_path(self) -> Path:
        return Path(self.out)

    @property
    def state_dir(self) -> Path:
        """Where checkpoints and the live log go until OUT is complete (beside OUT, so OUT only ever holds a
        finished checkpoint)."""
        return self.out_path.with_name(self.out_path.name + ".train")

    def lr_at(self, step: int) -> float:
        """Constant schedule after linear warmup; ``step`` counts from 0."""
        if self.warmup_steps == 0:
            return self.lr
        return self.lr * min(1.0, (step + 1) / self.warmup_steps)

    def to_dict(self) -> dict:
        return asdict(self)
