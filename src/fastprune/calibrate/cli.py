"""``fastprune calibrate MODEL --data SRC --out DIR``: the command line of the calibration stage.

Module-level imports stay light (argparse only) so ``fastprune --help`` is fast; torch and transformers
load inside ``run``.
"""

from __future__ import annotations

import argparse

from fastprune.importance.schema import OPTION_HELP


def register(subparsers, name: str, help_text: str) -> None:
    p = subparsers.add_parser(
        name,
        help=help_text,
        description=(
            "Stream a corpus through MODEL once and write per-layer importance statistics (cosine and "
            "angular distances between all layer boundaries, block influence, norms, update ratios, and "
            "optionally loss ablation / Taylor scores) to DIR/importance.json with heatmap.png and bi.png. "
            "Rerunning the same command on the same DIR resumes an interrupted run. Under torchrun the "
            "corpus is sharded across ranks."
        ),
    )
    p.add_argument(
        "model",
        help="model spec: smollm2-135m, a checkpoint dir, a .gguf file, random:NAME, "
        "tiny:FAMILY[:LAYERS] or a hub id",
    )
    p.add_argument(
        "--data",
        required=True,
        help="wikitext2, gsm8k-train, piqa, code-alpaca, a .txt/.json/"
        ".jsonl file, hf:NAME[:CONFIG], hf:json:FILE or a dataset name",
    )
    p.add_argument("--out", required=True, help="output directory (also holds the resumable state)")
    p.add_argument("--field", help="record field holding the text (JSON/JSONL/datasets)")
    p.add_argument("--template", help='format records with a template, e.g. "{question}\\n{answer}"')
    p.add_argument("--split", default="train", help="dataset split for HF datasets (default: train)")
    p.add_argument("--whole-file", action="store_true", help="a .txt file is one document, not one per line")
    p.add_argument("--seq-len", type=int, default=256, help="tokens per sequence (default: 256)")
    p.add_argument("--max-tokens", type=int, help="stop after this many (non-padding) tokens")
    p.add_argument("--batch-size", type=int, default=8, help="sequences per batch and rank (default: 8)")
    p.add_argument(
        "--pack",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="pack documents into full sequences joined by EOS (default) or keep one padded "
        "example per sequence (--no-pack)",
    )
    p.add_argument("--shuffle", action="store_true", help="shuffle documents with --seed")
    p.add_argument("--seed", type=int, default=0, help="seed for --shuffle and model init of random specs")
    p.add_argument("--save-every", type=int, default=50, help="checkpoint every N batches (0: never)")
    p.add_argument(
        "--loss-ablation",
        action="store_true",
        help=OPTION_HELP["loss_ablation"],
    )
    p.add_argument("--block", type=int, default=1, help="layers per skipped block for --loss-ablation")
    p.add_argument(
        "--taylor",
        action="store_true",
        help=OPTION_HELP["taylor"],
    )
    p.add_argument(
        "--on-nan",
        choices=("skip", "error"),
        default="error",
        help="what to do with a batch holding NaN/inf activations (default: error)",
    )
    p.add_argument("--dtype", default="auto", help="float32, bfloat16, float16 or auto")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    p.add_argument(
        "--backend",
        choices=("auto", "torch", "triton", "native"),
        default=None,
        help="statistics kernel (default: FASTPRUNE_BACKEND or auto)",
    )
    p.add_argument("--overwrite", action="store_true", help="discard earlier results and state in DIR")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.add_argument("--trust-remote-code", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    import json
    import sys

    from fastprune.calibrate.distributed import local_rank_from_env
    from fastprune.calibrate.runner import CalibrationConfig, calibrate
    from fastprune.data import open_source
    from fastprune.models import load_model

    config = CalibrationConfig(
        seq_len=args.seq_len,
        batch_size=args.batch_size,
        pack=args.pack,
        max_tokens=args.max_tokens,
        save_every=args.save_every,
        loss_ablation=args.loss_ablation,
        block=args.block,
        taylor=args.taylor,
        on_nan=args.on_nan,
        backend=args.backend,
        overwrite=args.overwrite,
        progress=args.progress,
    )
    from fastprune.utils_io import require_output_dir

    require_output_dir(args.out)
    # Bad data fails here, before a model is loaded.
    source = open_source(
        args.data,
        field=args.field,
        template=args.template,
        split=args.split,
        text_mode="whole" if args.whole_file else "lines",
        shuffle=args.shuffle,
        seed=args.seed,
    )
    device = args.device
    if device in ("auto", "cuda"):
        import torch

        if torch.cuda.is_available():
            device = f"cuda:{local_rank_from_env()}"
        elif device == "auto":
            device = "cpu"
    loaded = load_model(
        args.model, dtype=args.dtype, device=device, trust_remote_code=args.trust_remote_code, seed=args.seed
    )
    result = calibrate(loaded, source, config, args.out, model_name=args.model)
    if result is not None and sys.stdout.isatty():
        print(json.dumps({k: result[k] for k in ("model", "num_layers", "tokens", "sequences")}))
    return 0
