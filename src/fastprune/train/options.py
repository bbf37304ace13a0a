"""The train stage's options: :class:`TrainConfig` itself is the one definition (its fields are declared
with ``fastprune.options.option``), so ``TrainOptions`` is another name for it."""

from fastprune.train.config import TrainConfig as TrainOptions

__all__ = ["TrainOptions"]
