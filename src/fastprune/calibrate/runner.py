"""The calibration pass: stream batches through the model once, accumulate every statistic, resume.

Per batch: one forward of the base decoder (no LM head) with ``BoundaryCapture`` hooks filling the
``[L+1, n, D]`` buffer with real tokens only, then the fused ``boundary_stats`` op once over all tokens and
once over each sequence's last real token. Loss ablation and Taylor importance, when asked, replace that
forward with the one they need (a captured trace, or a full forward + backward) and still feed the hooks.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

from fastprune.calibrate.accumulators import Accumulators, boundary_stats, means, resolve_stats_backend
from fastprune.calibrate.capture import BoundaryCapture
from fastprune.calibrate.distributed import init_from_env
from fastprune.calibrate.extras import (
    GRADIENT_SUMS,
    WEIGHT_METRICS,
    ablation_blocks,
    loss_ablation,
    summed_lm_loss,
)
from fastprune.calibrate.options import CalibrationConfig
from fastprune.calibrate.report import remove_results, write_results
from fastprune.calibrate.state import check_same_run, load_state, save_state, state_dir
from fastprune.data import Batch, SequenceStream, StreamPosition, TextSource, batches, pad_id_of
from fastprune.errors import FastpruneError
from fastprune.importance.schema import BACKWARD, FROM_WEIGHTS, LOSS_ABLATION, OPTION_HELP, enabled_metrics
from fastprune.models.distributed import DistEnv
from fastprune.models.fingerprint import model_fingerprint

logger = logging.getLogger(__name__)


def _metric_options(config: CalibrationConfig) -> dict[str, bool]:
    """The options that turn metrics on (the schema's ``enabled_by``), as ``config`` sets them."""
    return {option: bool(getattr(config, option)) for option in OPTION_HELP}


def _versions() -> dict:
    import transformers

    from fastprune import __version__

    return {
        "fastprune": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": sys.version.split()[0],
    }


class _Pass:
    """State of one invocation: model, hooks, accumulators; ``step`` measures one batch."""

    def __init__(self, loaded, config: CalibrationConfig, acc: Accumulators, backend: str):
        self.loaded, self.config, self.acc, self.backend = loaded, config, acc, backend
        self.adapter = loaded.adapter
        self.device = loaded.device
        max_tokens = config.batch_size * config.seq_len
        self.capture = BoundaryCapture(self.adapter, max_tokens, loaded.dtype, self.device)
        self.weight = torch.ones(max_tokens, dtype=torch.float32, device=self.device)
        self.decoder = getattr(loaded.model, "base_model", loaded.model)
        # the passes the enabled metrics need beyond the plain forward that feeds the boundary statistics
        self.backward = any(m.accumulate.needs == BACKWARD for m in acc.metrics)
        self.ablation = any(m.accumulate.needs == LOSS_ABLATION for m in acc.metrics)
        self.runner = None
        if self.ablation:
            from fastprune.models.layer_runner import LayerRunner

            self.runner = LayerRunner(loaded)

    def _forward(self, ids: torch.Tensor, mask: torch.Tensor, fwd_mask) -> dict[str, torch.Tensor]:
        extra: dict[str, torch.Tensor] = {}
        if self.backward:
            with torch.enable_grad():
                logits = self.loaded.model(input_ids=ids, attention_mask=fwd_mask, use_cache=False).logits
                summed_lm_loss(logits, ids, mask).backward()
            del logits
            extra.update({key: f(self.adapter) for key, f in GRADIENT_SUMS.items() if key in self.acc.sums})
            self.loaded.model.zero_grad(set_to_none=True)  # the next batch starts from zero
        if self.ablation:
            # The trace's forward fills the buffer unless the backward's forward already did; the ablation
            # runs must not overwrite it.
            self.capture.enabled = not self.backward
            try:
                trace = self.runner.capture(ids, fwd_mask)
                self.capture.enabled = False
                extra.update(loss_ablation(self.runner, trace, ids, mask, self.config.block))
            finally:
                self.capture.enabled = True
            del trace
        if not (self.backward or self.ablation):
            with torch.no_grad():
                self.decoder(input_ids=ids, attention_mask=fwd_mask, use_cache=False)
        return extra

    def step(self, batch: Batch) -> str | None:
        """Measure one batch; returns an error message when it holds non-finite activations and
        ``--on-nan error`` is in force (the caller raises, on every rank at once)."""
        ids = batch.input_ids.to(self.device)
        mask = batch.attention_mask.to(self.device)
        n, last = self.capture.bind(mask)
        fwd_mask = None if n == ids.numel() else mask  # no mask lets attention take its causal fast path
        extra = self._forward(ids, mask, fwd_mask)
        self.capture.check_filled()
        with torch.no_grad():
            hidden = self.capture.buffer
            stats = boundary_stats(hidden, self.weight[:n], self.backend)
            last_hidden = hidden.index_select(1, last)
            last_stats = boundary_stats(last_hidden, self.weight[: last_hidden.shape[1]], self.backend)
        bad = Accumulators.first_bad_boundary(stats)
        if bad is None:
            self.acc.add_batch(stats, last_stats, ids.shape[0], extra)
            return None
        message = Accumulators.nan_message(bad, batch.index)
        if self.config.on_nan == "error":
            return message
        warnings.warn(f"skipped: {message}", RuntimeWarning, stacklevel=2)
        self.acc.skip_batch(n)
        return None


def _record(loaded, config, totals: dict, meta_base: dict, position: dict, extra_settings: dict) -> dict:
    """The importance.json content from the summed accumulators."""
    importance = {
        **meta_base,
        "num_layers": loaded.adapter.num_layers,
        "tokens": int(totals["tokens"]),
        "sequences": int(totals["sequences"]),
        "batches": int(totals["batches"]),
        "skipped_batches": int(totals["skipped_batches"]),
        "skipped_tokens": int(totals["skipped_tokens"]),
        "truncated_examples": int(position["truncated"]),
        **means(totals),
    }
    for metric in enabled_metrics(_metric_options(config)):
        if metric.accumulate.reduce == FROM_WEIGHTS:
            importance[metric.name] = WEIGHT_METRICS[metric.name](loaded.adapter)
    importance["settings"] = {
        **meta_base["settings"],
        **extra_settings,
        "dtype": str(loaded.dtype).removeprefix("torch."),
        "device": str(loaded.device),
    }
    importance["versions"] = _versions()
    return importance


def _prepare_dir(out: Path, cfg: CalibrationConfig, ctx: DistEnv, fingerprint: dict, settings: dict):
    """Returns ``(done_result, saved_state)``: the finished results to return as they are, or the
    checkpoint to resume from (either may be None)."""
    if cfg.overwrite:
        if ctx.is_main:
            remove_results(out)
            shutil.rmtree(state_dir(out), ignore_errors=True)
        ctx.barrier()
        return None, None
    result = out / "importance.json"
    if result.is_file():
        recorded = json.loads(result.read_text())
        check_same_run(out, recorded, fingerprint, settings, "finished results")
        return recorded, None
    saved = load_state(out)
    if saved is not None:
        check_same_run(out, saved[1], fingerprint, settings, "a partial calibration")
    return None, saved


def calibrate(
    loaded,
    source: TextSource,
    config: CalibrationConfig,
    out: str | Path,
    on_batch: Callable[[Batch], None] | None = None,
    model_name: str | None = None,
) -> dict:
    """Run (or resume, or report as done) a calibration of ``loaded`` on ``source`` into ``out``.

    ``on_batch`` is called after each global batch is accumulated (before any checkpoint); raising from it
    stops the pass like a kill would. Returns the importance dict (also written to ``out/importance.json``).
    """
    from tqdm.auto import tqdm

    out = Path(out)
    config.validate(loaded)
    backend = resolve_stats_backend(loaded.device, config.backend)
    ctx = init_from_env(loaded.device.type)
    try:
        fingerprint = model_fingerprint(loaded.model)
        settings = config.settings(source)
        done, saved = _prepare_dir(out, config, ctx, fingerprint, settings)
        if done is not None:
            if ctx.is_main:
                logger.info(
                    f"calibration in {out} is already done ({done.get('tokens')} tokens); "
                    "use --overwrite to recompute"
                )
            return done
        num_layers = loaded.adapter.num_layers
        acc = Accumulators(
            num_layers,
            ablation_blocks(num_layers, config.block) if config.loss_ablation else 0,
            **_metric_options(config),
        )
        position, batches_done = StreamPosition(), 0
        if saved is not None:
            sums, meta = saved
            position, batches_done = StreamPosition.from_dict(meta["position"]), int(meta["batches_done"])
            if ctx.is_main:  # the others start from zero: the final sum over ranks counts it once
                acc.load_state_dict(sums)
        tokenizer = loaded.tokenizer
        stream = SequenceStream(source, tokenizer, config.seq_len, config.pack, config.max_tokens, position)
        pad_id = pad_id_of(tokenizer)
        meta_base = {"model": model_name or loaded.name, "fingerprint": fingerprint, "settings": settings}

        def checkpoint(position_dict: dict, finished: bool) -> None:
            sums = acc.reduced(ctx.all_reduce_sum)
            if ctx.is_main:
                save_state(
                    out,
                    sums,
                    {
                        **meta_base,
                        "position": position_dict,
                        "batches_done": batches_done,
                        "finished": finished,
                    },
                )

        work = _Pass(loaded, config, acc, backend)
        bar = tqdm(
            total=config.max_tokens,
            initial=position.tokens,
            unit="tok",
            unit_scale=True,
            desc="calibrate",
            file=sys.stderr,
            disable=not (config.progress and ctx.is_main),
            dynamic_ncols=True,
        )
        last_position = position.to_dict()
        with work.capture, bar:
            for batch in batches(stream, config.batch_size, pad_id, ctx.rank, ctx.world, batches_done):
                error = work.step(batch) if batch.input_ids.shape[0] else None
                # Under --on-nan error every rank must stop together, not leave the others in a collective.
                if config.on_nan == "error" and ctx.any(error is not None):
                    raise FastpruneError(
                        error or f"non-finite activations on another rank in batch {batch.index}"
                    )
                bar.update(batch.global_tokens)
                batches_done, last_position = batch.index + 1, batch.position
                if on_batch is not None:
                    on_batch(batch)
                if config.save_every and batches_done % config.save_every == 0:
                    checkpoint(last_position, finished=False)
        last_position = stream.position.to_dict()  # the loop ran the stream dry: this one says done
        totals = acc.reduced(ctx.all_reduce_sum)
        if float(totals["tokens"]) == 0:
            skipped = int(totals["skipped_batches"])
            raise FastpruneError(
                f"every one of {skipped} batches held non-finite activations; nothing measured"
                if skipped
                else f"data source {source.location} produced no tokens"
            )
        extra_settings = {"seed": source.seed, "backend": backend, "world_size": ctx.world}
        importance = _record(loaded, config, totals, meta_base, last_position, extra_settings)
        if importance["truncated_examples"] and ctx.is_main:
            logger.warning(
                f"note: {importance['truncated_examples']} examples were longer than --seq-len "
                f"{config.seq_len} and were truncated"
            )
        if ctx.is_main:
            write_results(out, importance, plots=config.plots)
            save_state(
                out,
                totals,
                {**meta_base, "position": last_position, "batches_done": batches_done, "finished": True},
            )
        ctx.barrier()
        return importance
    finally:
        ctx.close()
