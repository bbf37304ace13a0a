"""Settings of one training run, with the paper's recipe as defaults.

Paper defaults (LoRA recovery on self-responses): lr 2e-4, constant schedule after 50 linear warmup steps,
AdamW betas (0.9, 0.99), weight decay 1e-4, gradient clipping at 1.0, one epoch, loss on responses only.
QLoRA uses r=64, alpha=16; LoRA r=16, alpha=32, dropout 0.05. Full and partial training default to a 10x
smaller learning rate (2e-5): every weight moves, not a low-rank update.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal, get_args

from fastprune.errors import FastpruneError
from fastprune.models.options import device_option, dtype_option, seed_option, trust_remote_code_option
from fastprune.options import option

Mode = Literal["lora", "full", "partial", "qlora"]
MODES = get_args(Mode)

DEFAULT_LR = {"lora": 2e-4, "qlora": 2e-4, "full": 2e-5, "partial": 2e-5}
DEFAULT_LORA = {"lora": (16, 32), "qlora": (64, 16)}  # (r, alpha)


@dataclass
class TrainConfig:
    """Every setting of a training run: ``fastprune train`` flags and the ``train:`` section of a
    ``fastprune run`` config both derive from it (``TrainOptions`` is this class)."""

    model: str = option(help="model to train: a pruned checkpoint dir, smollm2-135m, random:NAME, tiny:FAMILY",
                        positional=True, yaml=False)
    data: str = option(help="self-response JSONL (fastprune generate) or chat-format JSONL", yaml=False)
    out: str = option(help="output dir: a plain HF checkpoint + train_log.jsonl", yaml=False)
    mode: Mode = option("lora", help="lora, full, partial (the last --last-k layers + head) or qlora")
    lr: float | None = option(None, help="default 2e-4 for lora/qlora, 2e-5 for full/partial")
    epochs: int = option(1, help="passes over the data")
    max_steps: int | None = option(None, help="stop after this many optimizer steps")
    batch_size: int = option(4, help="sequences per micro-batch per process")
    grad_accum: int = option(1, help="micro-batches per optimizer step")
    max_seq_len: int = option(1024, help="longer rows are truncated (and counted)")
    pack: bool = option(False, help="pack several examples per sequence (document masks)")
    lora_r: int | None = option(None, help="default 16 (qlora: 64)")
    lora_alpha: int | None = option(None, help="default 32 (qlora: 16)")
    lora_dropout: float = option(0.05, help="dropout on the LoRA branch")
    last_k: int = option(4, help="partial mode: train the last k decoder layers + head")
    warmup_steps: int = option(50, help="linear warmup steps, then a constant learning rate")
    weight_decay: float = option(1e-4, help="AdamW weight decay")
    beta1: float = option(0.9, help="AdamW beta1")
    beta2: float = option(0.99, help="AdamW beta2")
    grad_clip: float = option(1.0, help="gradient norm clipping")
    save_every: int = option(0, help="distributed checkpoint every N steps (0: never)")
    # the model-loading options are this class's own fields (the train loop reads cfg.dtype ...), declared
    # by models.options like every stage's; in fastprune run they are the run-wide keys
    seed: int = seed_option(yaml=False)
    # parameter (master) dtype; compute is bf16 on GPU via FSDP2
    dtype: str = dtype_option("parameter dtype; auto = float32 master weights", yaml=False)
    save_dtype: str = option("auto", help="output dtype; auto = the source checkpoint's")
    device: str = device_option(yaml=False)
    activation_checkpointing: bool = option(False, help="recompute layer activations")
    teacher: str | None = option(None, help="optional: distil logits from this model (the unpruned one) on the "
                                            "response tokens")
    kd_alpha: float = option(0.5, help="weight of the distillation term (rest: CE)")
    kd_temperature: float = option(1.0, help="distillation temperature")
    chat_template: bool = option(True, flag="--no-chat-template",
                                 help="train on raw prompt + response text (for models without a chat template)")
    peak_flops: float | None = option(None, help="peak FLOP/s per device for MFU (known GPUs are looked up; "
                                                 "otherwise MFU is null)")
    overwrite: bool = option(False, help="replace an existing OUT", yaml=False)
    keep_state: bool = option(False, help="keep OUT.train/ (checkpoints) after success")
    trust_remote_code: bool = trust_remote_code_option(yaml=False)

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
