"""``fastprune eval MODEL [MODEL ...] --tasks arith,parens,gsm8k,piqa,ppl,humaneval --out DIR``, and
``fastprune eval compare A B [--out DIR]`` (paired comparison of two finished evaluations).

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


def _task_limits(text: str) -> dict[str, int]:
    out = {}
    for part in (x.strip() for x in text.split(",") if x.strip()):
        name, sep, value = part.rpartition("=")
        try:
            out[name] = int(value)
        except ValueError:
            name = ""
        if not sep or not name:
            raise argparse.ArgumentTypeError(f"expected TASK=N pairs, got {part!r}")
    return out


def _names(text: str) -> tuple[str, ...]:
    values = tuple(x.strip() for x in text.split(",") if x.strip())
    if not values:
        raise argparse.ArgumentTypeError(f"expected comma-separated names, got {text!r}")
    return values


def register(subparsers, name: str, help_text: str) -> None:
    p = subparsers.add_parser(
        name, help=help_text, description=help_text,
        epilog="Tasks: arith, arith_1dc, parens, gsm8k, gsm8k_fewshot, piqa, ppl, humaneval, math500, mbpp, xsum, "
               "mc:PATH, lm_eval:NAME (lm-evaluation-harness, if installed). "
               "The first model is the base every other model is compared with. "
               "'fastprune eval compare A B' compares two finished evaluations (output folders or their "
               "scores.json) item by item: paired test, p-value and whether the difference is resolved.",
    )
    p.add_argument("models", nargs="+", metavar="MODEL", help="model specs (see 'fastprune info --help')")
    p.add_argument("--tasks", default="arith,parens,gsm8k,piqa,ppl,humaneval", help="comma-separated tasks")
    p.add_argument("--out", type=Path, default=None,
                   help="output folder (scores.json, samples/, table.txt); required except for compare")
    p.add_argument("--limit", type=int, default=None, help="first N items of each task (quick runs)")
    p.add_argument("--task-limits", type=_task_limits, default={}, metavar="TASK=N,...",
                   help="per-task item counts overriding --limit, e.g. piqa=600,ppl=24")
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
    g.add_argument("--allow-unsandboxed-exec", action="store_true",
                   help="where no OS sandbox (user/PID/network/mount namespaces) works, run model-written "
                        "code behind the Python-level fence only; unsafe, recorded as sandbox 'none'")
    g.add_argument("--lm-eval-include", type=Path, action="append", default=[], metavar="DIR",
                   help="folder of local lm-eval task YAMLs for lm_eval:NAME tasks (repeatable)")
    g.add_argument("--parens-depths", type=_ints, default=(2, 4, 6, 8), help="open depths to probe")
    g.add_argument("--arith-kinds", type=_names, default=None,
                   help="arith kinds to cycle through, e.g. add1,sub1,1dc (default: all ten)")
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
        sandbox_workers=args.sandbox_workers, parens_depths=args.parens_depths, arith_kinds=args.arith_kinds,
        allow_unsandboxed_exec=args.allow_unsandboxed_exec,
    )


def run(args) -> int:
    from fastprune.errors import FastpruneError
    from fastprune.evaluate.registry import make_tasks
    from fastprune.evaluate.runner import run_eval

    if args.models[0] == "compare":
        if len(args.models) != 3:
            raise FastpruneError("usage: fastprune eval compare A B (two eval output folders or scores.json)")
        from fastprune.evaluate.compare import run_compare

        run_compare(args.models[1], args.models[2], out=args.out)
        return 0
    if args.out is None:
        raise FastpruneError("--out is required: the folder for scores.json, samples/ and table.txt")
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
            task_limits=args.task_limits, engine_for=engine_for,
        )
    return 0
