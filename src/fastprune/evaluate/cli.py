"""``fastprune eval MODEL [MODEL ...] --tasks arith,parens,gsm8k,piqa,ppl,humaneval --out DIR``.

Module-level imports stay light (no torch) so ``fastprune --help`` is fast.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def _ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def register(subparsers, name: str, help_text: str) -> None:
    p = subparsers.add_parser(
        name, help=help_text, description=help_text,
        epilog="Tasks: arith, parens, gsm8k, gsm8k_fewshot, piqa, ppl, humaneval, math500, mbpp, xsum, "
               "mc:PATH, lm_eval:NAME (lm-evaluation-harness, if installed). "
               "The first model is the base every other model is compared with.",
    )
    p.add_argument("models", nargs="+", metavar="MODEL", help="model specs (see 'fastprune info --help')")
    p.add_argument("--tasks", default="arith,parens,gsm8k,piqa,ppl,humaneval", help="comma-separated tasks")
    p.add_argument("--out", required=True, type=Path, help="output folder (scores.json, samples/, table.txt)")
    p.add_argument("--limit", type=int, default=None, help="first N items of each task (quick runs)")
    p.add_argument("--seed", type=int, default=0, help="seed of generated probes and of sampling")
    p.add_argument("--batch-size", type=int, default=8, help="generation and scoring batch size")
    p.add_argument("--max-new-tokens", type=int, default=None, help="override every task's generation budget")
    p.add_argument("--dtype", default="auto", help="auto, float32, bfloat16, float16")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--data-dir", type=Path, default=None, help="shared data folder (default: found)")
    g = p.add_argument_group("task options")
    g.add_argument("--gsm8k-file", type=Path, help="GSM8K-format JSONL (question, answer with '#### N')")
    g.add_argument("--gsm8k-shots", type=int, default=8, help="examples in gsm8k_fewshot")
    g.add_argument("--piqa-dir", type=Path, help="folder with PIQA valid.jsonl + valid-labels.lst")
    g.add_argument("--ppl-file", type=Path, help="text file for ppl (default: WikiText-2 test)")
    g.add_argument("--ppl-max-length", type=int, default=1024, help="ppl window length in tokens")
    g.add_argument("--ppl-stride", type=int, default=512, help="ppl window stride in tokens")
    g.add_argument("--math500-file", type=Path, help="MATH-500-format JSONL (problem, answer)")
    g.add_argument("--mbpp-file", type=Path, help="MBPP-format JSONL (text or prompt, test_list)")
    g.add_argument("--xsum-file", type=Path, help="XSum-format JSONL (document, summary)")
    g.add_argument("--humaneval-file", type=Path, help="HumanEval-format JSONL(.gz)")
    g.add_argument("--humaneval-samples", type=int, default=1, help="samples per problem (n > 1: sampled)")
    g.add_argument("--humaneval-temperature", type=float, default=0.8)
    g.add_argument("--pass-k", type=_ints, default=(1, 10), help="k values of pass@k, e.g. 1,10")
    g.add_argument("--sandbox-timeout", type=float, default=10.0, help="seconds per program")
    g.add_argument("--sandbox-memory-mb", type=int, default=1024, help="address-space limit per program")
    g.add_argument("--sandbox-workers", type=int, default=2, help="programs run in parallel")
    g.add_argument("--lm-eval-include", type=Path, action="append", default=[], metavar="DIR",
                   help="folder of local lm-eval task YAMLs for lm_eval:NAME tasks (repeatable)")
    g.add_argument("--parens-depths", type=_ints, default=(2, 4, 6, 8), help="open depths to probe")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    from fastprune.engines.vllm_session import add_engine_arguments

    add_engine_arguments(p, "the evaluation context, min(2048, the model's max positions); --batch-size "
                            "requests in flight")
    p.set_defaults(func=run)


def options_from_args(args):
    from fastprune.errors import FastpruneError
    from fastprune.evaluate.task import EvalOptions

    if args.max_new_tokens is not None and args.max_new_tokens < 1:
        raise FastpruneError(f"--max-new-tokens must be >= 1, got {args.max_new_tokens}")
    if args.sandbox_timeout <= 0 or args.sandbox_workers < 1 or args.sandbox_memory_mb < 64:
        raise FastpruneError("sandbox needs --sandbox-timeout > 0, --sandbox-workers >= 1 and "
                             "--sandbox-memory-mb >= 64")
    return EvalOptions(
        data_dir=args.data_dir, max_new_tokens=args.max_new_tokens, gsm8k_file=args.gsm8k_file,
        gsm8k_shots=args.gsm8k_shots, piqa_dir=args.piqa_dir, ppl_file=args.ppl_file,
        ppl_max_length=args.ppl_max_length, ppl_stride=args.ppl_stride, humaneval_file=args.humaneval_file,
        mbpp_file=args.mbpp_file, math500_file=args.math500_file, xsum_file=args.xsum_file,
        humaneval_samples=args.humaneval_samples, humaneval_temperature=args.humaneval_temperature,
        pass_k=args.pass_k, sandbox_timeout=args.sandbox_timeout, sandbox_memory_mb=args.sandbox_memory_mb,
        sandbox_workers=args.sandbox_workers, parens_depths=args.parens_depths,
    )


def run(args) -> int:
    from fastprune.evaluate.registry import make_tasks
    from fastprune.evaluate.runner import run_eval

    options = options_from_args(args)
    # before any model loads: bad names / files fail fast
    tasks = make_tasks(args.tasks, options, args.lm_eval_include)
    engine_for = None
    if args.engine == "vllm":
        from fastprune.evaluate.on_vllm import engine_for as vllm_engine_for

        engine_for = vllm_engine_for(args, args.models)
    from fastprune.engines.vllm_server import stop_servers_started_inside

    with stop_servers_started_inside():  # a task that fails must not leave its model's server running
        run_eval(
            args.models, tasks, args.out, limit=args.limit, seed=args.seed, batch_size=args.batch_size,
            dtype=args.dtype, device=args.device, options=options, progress=not args.no_progress,
            engine_for=engine_for,
        )
    return 0
