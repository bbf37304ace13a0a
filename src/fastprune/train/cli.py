"""``fastprune train PRUNED --data FILE.jsonl --mode lora --out OUT``: recovery finetuning.

Multi-GPU / multi-process: ``torchrun --nproc_per_node=N -m fastprune train ...`` (FSDP2). A killed run
resumes when the same command is run again with the same OUT.
"""

from __future__ import annotations

import argparse

from fastprune.options import add_options, options_from_args
from fastprune.train.config import TrainConfig


def run(args: argparse.Namespace) -> int:
    return execute(options_from_args(TrainConfig, args))


def execute(cfg: TrainConfig) -> int:
    """The train stage on ``cfg`` (``fastprune.train.run``): a recovered checkpoint in ``cfg.out``."""
    from fastprune.train.loop import train

    summary = train(cfg)
    final = summary["final"]
    if _is_rank0():
        print(f"trained {summary['steps']} steps ({cfg.mode}); final loss {final.get('loss', float('nan')):.4f}; "
              f"wrote {cfg.out}")
    return 0


def _is_rank0() -> bool:
    import os

    return os.environ.get("RANK", "0") == "0"


def register(sub, name: str, help_text: str) -> None:
    p = sub.add_parser(name, help=help_text, description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_options(p, TrainConfig)
    p.set_defaults(func=run)
