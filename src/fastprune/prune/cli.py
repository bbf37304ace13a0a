"""``fastprune prune MODEL --strategy S (--drop N | --ratio R | --layers LIST) --out OUT``.

Module-level imports stay light (no torch/transformers) so ``fastprune --help`` is fast.
"""

from __future__ import annotations

import json
import logging

from fastprune.errors import FastpruneError
from fastprune.options import add_options, options_from_args
from fastprune.prune.options import PruneOptions

logger = logging.getLogger(__name__)


def register(subparsers, name: str, help_text: str) -> None:
    p = subparsers.add_parser(name, help=help_text, description=help_text)
    add_options(p, PruneOptions)
    p.set_defaults(func=run)


def run(args) -> int:
    return execute(options_from_args(PruneOptions, args))


def execute(o: PruneOptions) -> int:
    """The prune stage on ``o`` (``fastprune.prune.run``): a verified checkpoint in ``o.out``."""
    from fastprune.importance.reader import load_importance
    from fastprune.models import load_model
    from fastprune.prune.api import choose_layers, prune_and_save
    from fastprune.prune.checkpoint import check_output_dir
    from fastprune.prune.summary import format_summary, pruning_summary

    if [o.drop, o.ratio, o.layers].count(None) != 2:
        raise FastpruneError("give exactly one of --drop, --ratio and --layers")
    if not o.dry_run and not o.out:
        raise FastpruneError("--out is required (or use --dry-run to only print the selection)")
    if o.out and not o.dry_run:
        check_output_dir(o.out, o.overwrite)  # before loading anything
    if o.verify_engines and not o.dry_run:
        from fastprune.engines.vllm_server import resolve_python

        resolve_python(o.vllm_python)
    importance = load_importance(o.importance) if o.importance else None
    loaded = load_model(o.model, dtype=o.load.dtype, device=o.load.device,
                        trust_remote_code=o.load.trust_remote_code, seed=o.load.seed)
    removed, extra = choose_layers(
        loaded, o.strategy, drop=o.drop, ratio=o.ratio, layers=o.layers, importance=importance,
        metric=o.metric, allow_first=o.allow_first, calib_data=o.calib_data,
        calib_samples=o.calib_samples, seq_len=o.seq_len, batch_size=o.batch_size,
        progress=o.progress,
    )
    if o.dry_run:
        summary = pruning_summary(loaded.model, removed, o.strategy)
        print(json.dumps(summary, indent=1) if o.json else format_summary(summary))
        return 0
    logger.info(f"pruning {loaded.name}: removing layers {removed}")
    out, report = prune_and_save(
        loaded, removed, o.out, strategy=o.strategy, importance=importance, overwrite=o.overwrite,
        verify=o.verify, max_shard_size=o.max_shard_size, extra_provenance=extra,
    )
    if o.verify_engines:
        report["vllm_verification"] = _verify_in_vllm(out, o.vllm_python)
    if o.json:
        print(json.dumps({"out": str(out), **report}, indent=1))
        return _vllm_exit(out, report)
    print(format_summary(report["summary"]))
    verification = report.get("verification")
    if verification:
        print(
            f"verified:         reload logits diff {verification['max_abs_diff_reloaded_vs_pruned']:.2e}, "
            f"skipped-original diff {verification['max_abs_diff_pruned_vs_skipped_original']:.2e}, "
            f"{verification['greedy_tokens_checked']} greedy tokens with KV cache match"
        )
    else:
        print("verified:         no (--no-verify)")
    print(f"wrote:            {out}")
    if "vllm_verification" in report:
        from fastprune.engines.vllm_verify import summary_line

        entry = next(iter(report["vllm_verification"]["checkpoints"].values()))
        print(f"vLLM:             {summary_line(str(out), entry)}")
    return _vllm_exit(out, report)


def _verify_in_vllm(out, python) -> dict:
    """Run the vLLM check on the written checkpoint; its report goes next to it (OUT/vllm_verification.json)."""
    from pathlib import Path

    from fastprune.engines.vllm_verify import verify_in_vllm
    from fastprune.utils_io import atomic_write_json

    out = Path(out)
    logger.info(f"checking {out} in vLLM (one vLLM process; about a minute to start) ...")
    result = verify_in_vllm([str(out)], python, out.with_name(out.name + ".vllm-verify"))
    atomic_write_json(out / "vllm_verification.json", result)
    return result


def _vllm_exit(out, report: dict) -> int:
    result = report.get("vllm_verification")
    if result is None:
        return 0
    entry = next(iter(result["checkpoints"].values()))
    if entry["ok"]:
        return 0
    from fastprune.engines.vllm_verify import summary_line

    raise FastpruneError(f"{summary_line(str(out), entry)} (the HF checkpoint itself is written and verified; "
                         f"details in {out}/vllm_verification.json)")
