"""``fastprune bench MODEL [MODEL ...]``: prefill latency and decode throughput, base vs pruned."""

from __future__ import annotations

import argparse

from fastprune.bench.options import BenchOptions
from fastprune.options import add_options, options_from_args


def run(args: argparse.Namespace) -> int:
    return execute(options_from_args(BenchOptions, args))


def execute(o: BenchOptions) -> int:
    """The bench stage on ``o`` (``fastprune.bench.run``): bench.json and speedup.png in ``o.out``."""
    if o.engine.engine == "vllm":
        return run_serving(o)
    from fastprune.bench.suite import run_bench

    run_bench(o)
    return 0


def run_serving(o: BenchOptions) -> int:
    from fastprune.bench.serving import ServingSettings, parse_mix, run_serving_bench
    from fastprune.engines.vllm_session import server_options
    from fastprune.errors import FastpruneError
    from fastprune.options import as_namespace

    if o.drop_layers:
        raise FastpruneError("--drop-layers prunes in memory, which a vLLM server cannot serve; write the pruned "
                             "checkpoint with 'fastprune prune' and pass its directory")
    if o.engine.vllm_url and len(o.models) > 1:
        raise FastpruneError("--vllm-url serves one model; a base-vs-pruned comparison needs --vllm-python")
    settings = ServingSettings(
        models=o.models, concurrencies=o.concurrency, mix=parse_mix(o.mix or f"{o.prompt_len}:{o.new_tokens}"),
        requests=o.serving_requests, rounds=o.rounds, warmup=o.warmup, seed=o.load.seed, out=o.out)
    run_serving_bench(settings, server_options(as_namespace(o), max(p + n for p, n in settings.mix)))
    return 0


def register(sub, name: str, help_text: str) -> None:
    p = sub.add_parser(
        name, help=help_text, description=help_text,
        epilog="example: fastprune bench smollm2-135m runs/demo/pruned --batch-sizes 1,8 --out runs/bench\n"
               "         fastprune bench random:llama-3.1-8b --drop-layers 4,8 --device cuda --out runs/bench8b",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_options(p, BenchOptions)
    p.set_defaults(func=run)
