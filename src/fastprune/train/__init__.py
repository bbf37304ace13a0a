"""Recovery finetuning of pruned models on self-responses: LoRA, full and partial-layer SFT with FSDP2.

Data (``data``, ``collate``) -> what trains (``modes``) -> the loop (``loop``) with FSDP2 (``distributed``),
resumable checkpoints (``checkpoint``), a JSONL step log and MFU (``metrics``) and optional distillation
(``kd``) -> a plain HF checkpoint (``model_io``). Settings and paper defaults: ``config``; ``fastprune
train``: ``cli``.
"""

from fastprune.train.config import TrainConfig
from fastprune.train.loop import train

__all__ = ["TrainConfig", "train"]
