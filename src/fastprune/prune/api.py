"""The prune stage as two calls: choose the layers, then prune + save + verify.

    imp = load_importance("run/importance.json")
    removed, extra = choose_layers(loaded, "block", drop=8, importance=imp)
    out, report = prune_and_save(loaded, removed, "OUT", strategy="block", importance=imp,
                                 extra_provenance=extra)
"""

from __future__ import annotations

from pathlib import Path

from fastprune.errors import FastpruneError
from fastprune.importance.reader import Importance, check_matches_model
from fastprune.importance.schema import DEFAULT_METRIC
from fastprune.models.layer_runner import LayerRunner
from fastprune.models.surgery import normalize_layers, prune_model
from fastprune.prune.checkpoint import check_output_dir, write_checkpoint
from fastprune.prune.iterative import LMLossScorer, Scorer, calibration_batches, iterative_select
from fastprune.prune.select import (
    STRATEGIES,
    parse_layer_list,
    resolve_count,
    select_block,
    select_lowest,
    select_reverse,
)
from fastprune.prune.summary import pruning_summary
from fastprune.prune.verify import make_probe, skipped_reference_logits, verify_checkpoint

NEEDS_IMPORTANCE = DEFAULT_METRIC  # strategy -> the metric it ranks by without --metric


def choose_layers(
    loaded,
    strategy: str,
    *,
    drop: int | None = None,
    ratio: float | None = None,
    layers: str | list[int] | None = None,
    importance: Importance | None = None,
    metric: str | None = None,
    allow_first: bool = False,
    scorer: Scorer | None = None,
    calib_data: str | Path | None = None,
    calib_samples: int = 8,
    seq_len: int = 256,
    batch_size: int = 4,
    progress: bool = True,
) -> tuple[list[int], dict]:
    """Layers to remove (sorted, validated) and extra provenance (e.g. the iterative search history).

    ``importance`` is checked against the model whenever it is given, even for strategies that do not
    read it, since its hash is recorded as provenance.
    """
    if strategy not in STRATEGIES:
        raise FastpruneError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    num_layers = loaded.adapter.num_layers
    if strategy in NEEDS_IMPORTANCE and importance is None:
        raise FastpruneError(
            f"strategy {strategy!r} reads importance.json; pass --importance (from 'fastprune calibrate')"
        )
    if importance is not None:
        check_matches_model(importance, loaded.model)
    if metric is not None and strategy not in NEEDS_IMPORTANCE:
        raise FastpruneError(f"--metric applies to --strategy {' or '.join(NEEDS_IMPORTANCE)}, not {strategy!r}")
    if strategy == "explicit":
        if layers is None or drop is not None or ratio is not None:
            raise FastpruneError("strategy 'explicit' takes --layers LIST (and no --drop/--ratio)")
        chosen = parse_layer_list(layers) if isinstance(layers, str) else list(layers)
        return normalize_layers(chosen, num_layers), {}
    if layers is not None:
        raise FastpruneError(f"--layers only applies to --strategy explicit, not {strategy!r}")
    n = resolve_count(num_layers, drop, ratio)
    extra: dict = {}
    if strategy == "block":
        metric = metric or DEFAULT_METRIC[strategy]
        chosen = select_block(importance, n, metric)
    elif strategy == "bi":
        metric = metric or DEFAULT_METRIC[strategy]
        chosen = select_lowest(importance, n, metric)
    elif strategy == "reverse":
        chosen = select_reverse(num_layers, n)
    else:
        if scorer is None:
            if calib_data is None:
                raise FastpruneError("strategy 'iterative' scores candidates on text: pass --calib-data FILE")
            if loaded.tokenizer is None:
                raise FastpruneError(f"model {loaded.name} has no tokenizer to read --calib-data with")
            batches = calibration_batches(
                loaded.tokenizer, calib_data, calib_samples, seq_len, batch_size, device=loaded.device
            )
            scorer = LMLossScorer(LayerRunner(loaded), batches, progress=progress)
            extra["calibration"] = {
                "data": str(calib_data), "samples": calib_samples, "seq_len": seq_len, "score": "lm_loss",
            }
        chosen, history = iterative_select(num_layers, n, scorer, allow_first=allow_first)
        extra["iterative_history"] = history
    if metric is not None and strategy in NEEDS_IMPORTANCE:
        extra["metric"] = metric
    return normalize_layers(chosen, num_layers), extra


def prune_and_save(
    loaded,
    removed: list[int],
    out: str | Path,
    *,
    strategy: str,
    importance: Importance | None = None,
    overwrite: bool = False,
    verify: bool = True,
    max_shard_size: str | int = "5GB",
    extra_provenance: dict | None = None,
) -> tuple[Path, dict]:
    """Prune ``loaded.model`` in place, write it to ``out`` and (by default) verify it before the rename.

    Returns the output path and the report written to ``OUT/fastprune_prune.json`` (summary, provenance,
    verification). On any failure nothing is written; the in-memory model may already be pruned.
    """
    model = loaded.model
    removed = normalize_layers(removed, loaded.adapter.num_layers)
    out = check_output_dir(out, overwrite)
    summary = pruning_summary(model, removed, strategy)
    probe = reference = None
    if verify:
        # The skipped-layer reference needs the original model, which in-place surgery destroys.
        probe = make_probe(loaded.tokenizer, model.config.get_text_config().vocab_size, loaded.device)
        reference = skipped_reference_logits(model, removed, probe)
    prune_model(
        model,
        removed,
        strategy=strategy,
        importance_sha256=importance.sha256 if importance is not None else None,
        extra_provenance={
            "source_model": loaded.name,
            "importance_path": str(importance.path) if importance is not None else None,
            **(extra_provenance or {}),
        },
    )
    report = write_checkpoint(
        model,
        loaded.tokenizer,
        out,
        overwrite=overwrite,
        max_shard_size=max_shard_size,
        verify=(lambda tmp: verify_checkpoint(tmp, model, probe, reference)) if verify else None,
        report={"summary": summary, "fastprune": model.config.fastprune},
    )
    return out, report
