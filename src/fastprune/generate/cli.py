"""``fastprune generate MODEL --prompts SRC --out FILE.jsonl``: resumable self-response datasets.

Module-level imports stay light (argparse only) so ``fastprune --help`` is fast.
"""

from __future__ import annotations

import argparse
import logging

logger = logging.getLogger(__name__)


def register(subparsers, name: str, help_text: str) -> None:
    p = subparsers.add_parser(
        name, help=help_text, description=(
            "Answer every prompt of SRC with MODEL and append one JSONL row per prompt (id, prompt, response, "
            "num_tokens, finish_reason). Re-running the same command resumes: rows already written are "
            "skipped, a torn last line from a kill is dropped."),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("model", help="model spec: smollm2-135m, a checkpoint dir, a .gguf, random:NAME, tiny:FAMILY")
    p.add_argument("--prompts", required=True, metavar="SRC",
                   help="gsm8k-train, gsm8k-test, code-alpaca, a .json/.jsonl/.txt path, or a HF dataset name")
    p.add_argument("--out", required=True, metavar="FILE.jsonl", help="output JSONL (appended to on resume)")
    p.add_argument("--field", help="record field holding the prompt (JSON/JSONL files and HF datasets); default: "
                   "detected from prompt, question, instruction (+ input), messages, text, problem")
    p.add_argument("--template", help="format string combining record fields, e.g. '{instruction}\\n{input}'")
    p.add_argument("--split", default="train", help="split of a HF dataset")
    p.add_argument("--limit", type=int, help="use only the first N prompts of the source")
    p.add_argument("--no-chat-template", dest="chat", action="store_false",
                   help="feed raw prompt text instead of the tokenizer's chat template")
    p.add_argument("--system-prompt", help="system message put before each prompt (chat template only)")
    p.add_argument("--temperature", type=float, default=0.9, help="0 = greedy")
    p.add_argument("--top-p", type=float, default=0.95)
    p.add_argument("--top-k", type=int, default=0, help="0 = off")
    p.add_argument("--max-new-tokens", type=int, default=512)
    p.add_argument("--stop", action="append", default=[], metavar="TEXT", help="stop string (repeatable)")
    p.add_argument("--batch-size", type=int, default=8, help="sequences decoded together (KV cache slots)")
    p.add_argument("--max-seq-len", type=int, help="KV cache length; default: longest prompt + max new tokens")
    p.add_argument("--seed", type=int, default=0, help="run seed; each prompt's seed derives from it and its id")
    p.add_argument("--dtype", default="auto", help="auto, float32, bfloat16, float16")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--backend", choices=["auto", "torch", "native"],
                   help="decode-step kernels of the fast runner: native (C++, CPU float32), torch (HF's ops bit "
                        "for bit); default: FASTPRUNE_BACKEND, else auto")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    from fastprune.engines.vllm_session import add_engine_arguments

    add_engine_arguments(p, "longest prompt + --max-new-tokens; --batch-size requests are in flight")
    p.set_defaults(func=run)


def run(args) -> int:
    from fastprune.errors import FastpruneError
    from fastprune.generate.prompts import load_prompts
    from fastprune.generate.self_responses import SelfResponseConfig, pending_prompts, run_self_responses

    if args.batch_size < 1:
        raise FastpruneError(f"--batch-size must be >= 1, got {args.batch_size}")
    prompts, source = load_prompts(args.prompts, field=args.field, template=args.template, split=args.split,
                                   limit=args.limit)
    cfg = SelfResponseConfig(
        chat=args.chat, system_prompt=args.system_prompt, temperature=args.temperature, top_p=args.top_p,
        top_k=args.top_k, max_new_tokens=args.max_new_tokens, stop_strings=tuple(args.stop), seed=args.seed,
        batch_size=args.batch_size, max_seq_len=args.max_seq_len, backend=args.backend,
        extra={"model": args.model, "source": source},
    )
    if args.engine == "vllm":  # sampled answers differ between engines: a resume must not mix them
        cfg.extra["engine"] = "vllm"
    # Validate sampling settings before loading a model.
    from fastprune.engines import SamplingParams

    SamplingParams(max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature, top_k=cfg.top_k,
                   top_p=cfg.top_p, stop_strings=cfg.stop_strings)
    todo, done = pending_prompts(prompts, args.out, cfg)
    where = f"{len(prompts)} prompts from {source['prompt_field']!r} of {args.prompts}"
    if not todo:
        logger.info(f"{args.out}: all {where} already answered; nothing to do")
        return 0
    logger.info(f"{args.out}: {where}; {done} rows already written, {len(todo)} prompts to answer")

    if args.engine == "vllm":
        from fastprune.generate.on_vllm import run_on_vllm

        stats = run_on_vllm(args, prompts, cfg)
    else:
        from fastprune.models import load_model

        loaded = load_model(args.model, dtype=args.dtype, device=args.device, seed=args.seed)
        stats = run_self_responses(loaded, prompts, args.out, cfg, progress=args.progress)
    rate = f", {stats['tokens_per_s']:.1f} output tok/s" if stats.get("tokens_per_s") else ""
    logger.info(f"{args.out}: wrote {stats['written']} rows ({stats['tokens']} tokens in {stats['seconds']:.1f} s"
                f"{rate}, {stats['runner']} runner, {stats['decode_kernels']} decode kernels)")
    return 0
