"""The calibration stage's options, defined once: ``fastprune calibrate`` flags and the ``calibrate:``
section of a ``fastprune run`` config both derive from :class:`CalibrateOptions`.

:class:`CalibrationConfig` is the part the calibration pass itself reads (``runner.calibrate``); the rest
says which corpus to stream, which model to load and where the results go.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Literal

from fastprune.errors import FastpruneError
from fastprune.importance.schema import OPTION_HELP
from fastprune.models.options import ModelOptions
from fastprune.options import option

if TYPE_CHECKING:
    from fastprune.data import TextSource


@dataclass
class CalibrationConfig:
    seq_len: int = option(256, help="tokens per sequence")
    batch_size: int = option(8, help="sequences per batch and rank")
    pack: bool = option(True, help="pack documents into full sequences joined by EOS (default) or keep one "
                                   "padded example per sequence (--no-pack)")
    max_tokens: int | None = option(None, help="stop after this many (non-padding) tokens (default: the whole "
                                               "corpus)")
    save_every: int = option(50, help="checkpoint every N global batches (0: only at the end)")
    loss_ablation: bool = option(False, help=OPTION_HELP["loss_ablation"])
    block: int = option(1, help="layers per skipped block for --loss-ablation")
    taylor: bool = option(False, help=OPTION_HELP["taylor"])
    on_nan: Literal["skip", "error"] = option("error", help="what to do with a batch holding NaN/inf "
                                                            "activations")
    backend: Literal["auto", "torch", "triton", "native"] | None = option(
        None, help="statistics kernel (default: FASTPRUNE_BACKEND or auto)")
    overwrite: bool = option(False, help="discard earlier results and state in DIR", yaml=False)
    progress: bool = option(True, help="no progress bar", flag="--no-progress")
    plots: bool = option(True, help="heatmap.png and bi.png next to importance.json", cli=False, yaml=False)

    def settings(self, source: TextSource) -> dict:
        """What must not change between a run and its resume (recorded in every output)."""
        keep = ("seq_len", "batch_size", "pack", "max_tokens", "block", *OPTION_HELP)
        out = {k: v for k, v in asdict(self).items() if k in keep}
        out["data"] = source.describe()
        return out

    def validate(self, loaded) -> None:
        if self.batch_size < 1:
            raise FastpruneError(f"--batch-size must be positive, not {self.batch_size}")
        if self.save_every < 0:
            raise FastpruneError(f"--save-every must be 0 or more, not {self.save_every}")
        if self.on_nan not in ("skip", "error"):
            raise FastpruneError(f"--on-nan must be skip or error, not {self.on_nan!r}")
        n = loaded.adapter.num_layers
        if self.loss_ablation and not 1 <= self.block <= n:
            raise FastpruneError(f"--block {self.block} must be between 1 and the model's {n} layers")
        ctx = getattr(loaded.adapter.text_config, "max_position_embeddings", None)
        if ctx and self.seq_len > ctx:
            raise FastpruneError(
                f"--seq-len {self.seq_len} is longer than the model's context ({ctx} tokens); "
                f"use --seq-len {ctx} or less"
            )


@dataclass
class CalibrateOptions:
    model: str = option(help="model spec: smollm2-135m, a checkpoint dir, a .gguf file, random:NAME, "
                             "tiny:FAMILY[:LAYERS] or a hub id", positional=True, yaml=False)
    out: str = option(help="output directory (also holds the resumable state)", yaml=False)
    data: str = option("wikitext2", help="wikitext2, gsm8k-train, piqa, code-alpaca, a .txt/.json/.jsonl file, "
                                         "hf:NAME[:CONFIG], hf:json:FILE or a dataset name")
    field: str | None = option(None, help="record field holding the text (JSON/JSONL/datasets)")
    template: str | None = option(None, help='format records with a template, e.g. "{question}\\n{answer}"')
    split: str = option("train", help="dataset split for HF datasets")
    whole_file: bool = option(False, help="a .txt file is one document, not one per line")
    shuffle: bool = option(False, help="shuffle documents with --seed")
    calibration: CalibrationConfig = option(default_factory=CalibrationConfig, flatten=True,
                                            help="what the calibration pass measures and how")
    load: ModelOptions = option(default_factory=ModelOptions, flatten=True, yaml=False,
                                help="how the model loads (run-wide keys in fastprune run)")
