"""``fastprune prune MODEL --strategy S (--drop N | --ratio R | --layers LIST) --out OUT``.

Module-level imports stay light (no torch/transformers) so ``fastprune --help`` is fast.
"""

from __future__ import annotations

import json
import logging

from fastprune.errors import FastpruneError
from fastprune.importance.schema import metric_option_help, rankable_names

logger = logging.getLogger(__name__)

STRATEGY_HELP = (
    "block: the least important contiguous n-block (by default the smallest angular distance); "
    "bi: the n least important layers by --metric (by default the lowest block influence); "
    "reverse: the n layers before the last; iterative: greedy search on LM loss of --calib-data; "
    "explicit: --layers"
)


def register(subparsers, name: str, help_text: str) -> None:
    p = subparsers.add_parser(name, help=help_text, description=help_text)
    p.add_argument("model", help="model spec: smollm2-135m, checkpoint dir, .gguf, random:NAME, tiny:FAMILY")
    p.add_argument("--importance", help="importance.json (or its directory) from 'fastprune calibrate'")
    p.add_argument("--strategy", required=True,
                   choices=["block", "bi", "reverse", "iterative", "explicit"], help=STRATEGY_HELP)
    how_many = p.add_mutually_exclusive_group(required=True)
    how_many.add_argument("--drop", type=int, help="number of layers to remove")
    how_many.add_argument("--ratio", type=float, help="fraction of layers to remove (rounded)")
    how_many.add_argument("--layers", help="explicit comma-separated indices, negatives count from the end")
    p.add_argument("--metric", choices=rankable_names(), metavar="METRIC", help=metric_option_help())
    p.add_argument("--allow-first", action="store_true", help="iterative: let layer 0 be removed")
    p.add_argument("--out", help="output checkpoint directory (required unless --dry-run)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.add_argument("--no-verify", dest="verify", action="store_false",
                   help="skip reload + logits + greedy-generation verification")
    p.add_argument("--verify", dest="verify_engines", action="append", choices=["vllm"], default=[],
                   metavar="ENGINE", help="also check the written checkpoint in ENGINE: vllm (it loads unchanged "
                   "and its greedy output equals HF's; needs --vllm-python or $FASTPRUNE_VLLM_PYTHON)")
    p.add_argument("--vllm-python", metavar="PATH", help="Python of the vLLM environment (--verify vllm)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the chosen layers and what they cost; write nothing")
    p.add_argument("--json", action="store_true", help="print the summary as JSON instead of text")
    p.add_argument("--calib-data", help="iterative: plain-text (or JSONL with 'text') calibration file")
    p.add_argument("--calib-samples", type=int, default=8, help="iterative: number of calibration chunks (default 8)")
    p.add_argument("--seq-len", type=int, default=256, help="iterative: tokens per calibration chunk (default 256)")
    p.add_argument("--batch-size", type=int, default=4, help="iterative: chunks per forward (default 4)")
    p.add_argument("--dtype", default="auto", help="load and save dtype: auto (default), float32, bfloat16, float16")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N or auto")
    p.add_argument("--max-shard-size", default="5GB", help="safetensors shard size limit (default 5GB)")
    p.add_argument("--trust-remote-code", action="store_true", help="allow model code from the checkpoint")
    p.add_argument("--seed", type=int, default=0, help="seed for random:/tiny: models (default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args) -> int:
    from fastprune.importance.reader import load_importance
    from fastprune.models import load_model
    from fastprune.prune.api import choose_layers, prune_and_save
    from fastprune.prune.checkpoint import check_output_dir
    from fastprune.prune.summary import format_summary, pruning_summary

    if not args.dry_run and not args.out:
        raise FastpruneError("--out is required (or use --dry-run to only print the selection)")
    if args.out and not args.dry_run:
        check_output_dir(args.out, args.overwrite)  # before loading anything
    if args.verify_engines and not args.dry_run:
        from fastprune.engines.vllm_server import resolve_python

        resolve_python(args.vllm_python)
    importance = load_importance(args.importance) if args.importance else None
    loaded = load_model(args.model, dtype=args.dtype, device=args.device,
                        trust_remote_code=args.trust_remote_code, seed=args.seed)
    removed, extra = choose_layers(
        loaded, args.strategy, drop=args.drop, ratio=args.ratio, layers=args.layers, importance=importance,
        metric=args.metric, allow_first=args.allow_first, calib_data=args.calib_data,
        calib_samples=args.calib_samples, seq_len=args.seq_len, batch_size=args.batch_size,
        progress=not args.quiet,
    )
    if args.dry_run:
        summary = pruning_summary(loaded.model, removed, args.strategy)
        print(json.dumps(summary, indent=1) if args.json else format_summary(summary))
        return 0
    logger.info(f"pruning {loaded.name}: removing layers {removed}")
    out, report = prune_and_save(
        loaded, removed, args.out, strategy=args.strategy, importance=importance, overwrite=args.overwrite,
        verify=args.verify, max_shard_size=args.max_shard_size, extra_provenance=extra,
    )
    if args.verify_engines:
        report["vllm_verification"] = _verify_in_vllm(out, args.vllm_python)
    if args.json:
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
