"""``fastprune bench MODEL [MODEL ...]``: prefill latency and decode throughput, base vs pruned."""

from __future__ import annotations

import argparse


def _int_list(text: str) -> list[int]:
    from fastprune.errors import FastpruneError

    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError as exc:
        raise FastpruneError(f"expected a comma-separated list of integers, got {text!r}") from exc
    if not values or any(v < 0 for v in values):
        raise FastpruneError(f"expected non-negative integers, got {text!r}")
    return values


def run(args: argparse.Namespace) -> int:
    if args.engine == "vllm":
        return run_serving(args)
    from fastprune.bench.suite import BenchSettings, run_bench

    settings = BenchSettings(
        models=args.models,
        batch_sizes=_int_list(args.batch_sizes),
        prompt_len=args.prompt_len,
        new_tokens=args.new_tokens,
        drop_layers=_int_list(args.drop_layers) if args.drop_layers else [],
        warmup=args.warmup,
        repeats=args.repeats,
        rounds=args.rounds,
        compare_hf=args.compare_hf,
        hf_variants=[v.strip() for v in args.hf_variants.split(",") if v.strip()],
        max_interval_width=args.max_interval_width,
        max_cv=args.max_cv,
        engine=not args.no_engine,
        dtype=args.dtype,
        device=args.device,
        seed=args.seed,
        out=args.out,
    )
    run_bench(settings)
    return 0


def run_serving(args: argparse.Namespace) -> int:
    from fastprune.bench.serving import ServingSettings, parse_mix, run_serving_bench
    from fastprune.engines.vllm_session import server_options
    from fastprune.errors import FastpruneError

    if args.drop_layers:
        raise FastpruneError("--drop-layers prunes in memory, which a vLLM server cannot serve; write the pruned "
                             "checkpoint with 'fastprune prune' and pass its directory")
    if args.vllm_url and len(args.models) > 1:
        raise FastpruneError("--vllm-url serves one model; a base-vs-pruned comparison needs --vllm-python")
    settings = ServingSettings(
        models=args.models, concurrencies=_int_list(args.concurrency),
        mix=parse_mix(args.mix or f"{args.prompt_len}:{args.new_tokens}"), requests=args.serving_requests,
        rounds=args.rounds, warmup=args.warmup, seed=args.seed, out=args.out)
    settings.validate()
    run_serving_bench(settings, server_options(args, max(p + n for p, n in settings.mix)))
    return 0


def register(sub, name: str, help_text: str) -> None:
    from fastprune.bench.stats import MAX_CV, MAX_INTERVAL_WIDTH

    p = sub.add_parser(
        name, help=help_text, description=help_text,
        epilog="example: fastprune bench smollm2-135m runs/demo/pruned --batch-sizes 1,8 --out runs/bench\n"
               "         fastprune bench random:llama-3.1-8b --drop-layers 4,8 --device cuda --out runs/bench8b",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("models", nargs="+", help="model specs; the first is the base the others are compared to")
    p.add_argument("--drop-layers", default="", help="also measure the first model with the last n layers "
                   "before the final one removed in memory, for each n (e.g. 2,4,8)")
    p.add_argument("--batch-sizes", default="1,8", help="comma-separated batch sizes (default 1,8)")
    p.add_argument("--prompt-len", type=int, default=128, help="prompt tokens per sequence (default 128)")
    p.add_argument("--new-tokens", type=int, default=32, help="generated tokens per sequence (default 32)")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3, help="timed runs per point and round")
    p.add_argument("--rounds", type=int, default=1, help="run the whole grid this many times and pool the "
                   "samples, so a shared machine's drift hits every variant alike (default 1)")
    p.add_argument("--compare-hf", action="store_true", help="also measure HF generate")
    p.add_argument("--hf-variants", default="dynamic,static", help="HF baselines with --compare-hf: dynamic "
                   "(default cache), static (cache_implementation='static'), compile (static + torch.compile; "
                   "compile time reported apart; slow to compile on CPU) (default dynamic,static)")
    p.add_argument("--max-interval-width", type=float, default=MAX_INTERVAL_WIDTH,
                   help="flag a ratio unreliable when its 95%% interval is wider than this share of it "
                   f"(default {MAX_INTERVAL_WIDTH})")
    p.add_argument("--max-cv", type=float, default=MAX_CV, help="flag a ratio unreliable when either side's "
                   f"samples vary more than this coefficient of variation (default {MAX_CV})")
    p.add_argument("--no-engine", action="store_true", help="skip the fastprune engine (HF only)")
    p.add_argument("--dtype", default="auto")
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output dir for bench.json and speedup.png")
    from fastprune.engines.vllm_session import add_engine_arguments

    add_engine_arguments(p, "the longest prompt + answer of --mix")
    g = p.add_argument_group("serving benchmark (--engine vllm)")
    g.add_argument("--concurrency", default="1,4", help="comma-separated numbers of requests in flight")
    g.add_argument("--mix", help="prompt:answer token lengths the requests cycle through, e.g. 128:32,512:64 "
                   "(default: --prompt-len:--new-tokens)")
    g.add_argument("--serving-requests", type=int, default=16, help="requests per concurrency and round")
    p.set_defaults(func=run)
