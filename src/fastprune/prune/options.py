"""The prune stage's options, defined once: ``fastprune prune`` flags and the ``prune:`` section of a
``fastprune run`` config both derive from :class:`PruneOptions`. The pipeline sets the model, the
importance file, the strategy and ratio of each variant and the output itself (``yaml=False`` here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from fastprune.engines.options import vllm_python_option
from fastprune.importance.schema import metric_option_help, rankable_names
from fastprune.models.options import ModelOptions
from fastprune.options import option

STRATEGY_HELP = (
    "block: the least important contiguous n-block (by default the smallest angular distance); "
    "bi: the n least important layers by --metric (by default the lowest block influence); "
    "reverse: the n layers before the last; iterative: greedy search on LM loss of --calib-data; "
    "explicit: --layers"
)
Strategy = Literal["block", "bi", "reverse", "iterative", "explicit"]


@dataclass
class PruneOptions:
    model: str = option(help="model spec: smollm2-135m, checkpoint dir, .gguf, random:NAME, tiny:FAMILY",
                        positional=True, yaml=False)
    strategy: Strategy = option(help=STRATEGY_HELP, yaml=False)
    importance: str | None = option(None, help="importance.json (or its directory) from 'fastprune calibrate'",
                                    yaml=False)
    drop: int | None = option(None, help="number of layers to remove", exclusive="how_many", yaml=False)
    ratio: float | None = option(None, help="fraction of layers to remove (rounded)", exclusive="how_many",
                                 yaml=False)
    layers: str | None = option(None, help="explicit comma-separated indices, negatives count from the end",
                                exclusive="how_many", yaml=False)
    metric: str | None = option(None, choices=rankable_names(), metavar="METRIC", help=metric_option_help())
    allow_first: bool = option(False, help="iterative: let layer 0 be removed")
    out: str | None = option(None, help="output checkpoint directory (required unless --dry-run)", yaml=False)
    overwrite: bool = option(False, help="replace an existing --out", yaml=False)
    verify: bool = option(True, flag="--no-verify", help="skip reload + logits + greedy-generation verification")
    verify_engines: list[Literal["vllm"]] = option(
        [], flag="--verify", append=True, metavar="ENGINE",
        help="also check the written checkpoint in ENGINE: vllm (it loads unchanged and its greedy output "
             "equals HF's; needs --vllm-python or $FASTPRUNE_VLLM_PYTHON)")
    vllm_python: str | None = vllm_python_option(group=None, yaml=False)  # run-wide in fastprune run
    dry_run: bool = option(False, help="print the chosen layers and what they cost; write nothing", yaml=False)
    json: bool = option(False, help="print the summary as JSON instead of text", yaml=False)
    calib_data: str | None = option(None, help="iterative: plain-text (or JSONL with 'text') calibration file")
    calib_samples: int = option(8, help="iterative: number of calibration chunks")
    seq_len: int = option(256, help="iterative: tokens per calibration chunk")
    batch_size: int = option(4, help="iterative: chunks per forward")
    max_shard_size: str = option("5GB", help="safetensors shard size limit")
    progress: bool = option(True, flag="--quiet", help="no progress bars")
    load: ModelOptions = option(default_factory=ModelOptions, flatten=True, yaml=False,
                                help="how the model loads (run-wide keys in fastprune run)")
