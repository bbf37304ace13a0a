"""Recovery finetuning of pruned models on self-responses: LoRA, full and partial-layer SFT with FSDP2.

Data (``data``, ``collate``) -> what trains (``modes``) -> the loop (``loop``) with FSDP2 (``distributed``),
resumable checkpoints (``checkpoint``), a JSONL step log and MFU (``metrics``) and optional distillation
(``kd``) -> a plain HF checkpoint (``model_io``). Settings and paper defaults: ``config``; ``fastprune
train``: ``cli``.
"""

__all__ = ["TrainConfig", "TrainOptions", "run", "train"]


def run(options) -> int:
    """The train stage on a ``TrainConfig`` (what ``fastprune train`` and ``fastprune run`` call)."""
    from fastprune.train.cli import execute

    return execute(options)


def __getattr__(name: str):
    # Lazy: `fastprune --help` imports fastprune.train.cli, which must not pull in torch.distributed.
    if name in ("TrainConfig", "TrainOptions"):
        from fastprune.train.config import TrainConfig

        return TrainConfig
    if name == "train":
        from fastprune.train.loop import train

        return train
    raise AttributeError(f"module 'fastprune.train' has no attribute {name!r}")
