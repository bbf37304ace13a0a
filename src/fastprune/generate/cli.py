"""``fastprune generate MODEL --prompts SRC --out FILE.jsonl``: resumable self-response datasets.

Module-level imports stay light (argparse only) so ``fastprune --help`` is fast.
"""

from __future__ import annotations

import logging

from fastprune.generate.options import GenerateOptions
from fastprune.options import add_options, options_from_args

logger = logging.getLogger(__name__)


def register(subparsers, name: str, help_text: str) -> None:
    p = subparsers.add_parser(
        name, help=help_text, description=(
            "Answer every prompt of SRC with MODEL and append one JSONL row per prompt (id, prompt, response, "
            "num_tokens, finish_reason). Re-running the same command resumes: rows already written are "
            "skipped, a torn last line from a kill is dropped."),
    )
    add_options(p, GenerateOptions)
    p.set_defaults(func=run)


def run(args) -> int:
    return execute(options_from_args(GenerateOptions, args))


def execute(o: GenerateOptions) -> int:
    """The generate stage on ``o`` (``fastprune.generate.run``): self-responses appended to ``o.out``."""
    import dataclasses

    from fastprune.errors import FastpruneError
    from fastprune.generate.prompts import load_prompts
    from fastprune.generate.self_responses import pending_prompts, run_self_responses
    from fastprune.options import as_namespace

    if o.sampling.batch_size < 1:
        raise FastpruneError(f"--batch-size must be >= 1, got {o.sampling.batch_size}")
    prompts, source = load_prompts(o.prompts, field=o.field, template=o.template, split=o.split, limit=o.limit)
    cfg = dataclasses.replace(o.sampling, stop_strings=tuple(o.sampling.stop_strings), seed=o.load.seed,
                              extra={"model": o.model, "source": source})
    if o.engine.engine == "vllm":  # sampled answers differ between engines: a resume must not mix them
        cfg.extra["engine"] = "vllm"
    # Validate sampling settings before loading a model.
    from fastprune.engines import SamplingParams

    SamplingParams(max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature, top_k=cfg.top_k,
                   top_p=cfg.top_p, stop_strings=cfg.stop_strings)
    todo, done = pending_prompts(prompts, o.out, cfg)
    where = f"{len(prompts)} prompts from {source['prompt_field']!r} of {o.prompts}"
    if not todo:
        logger.info(f"{o.out}: all {where} already answered; nothing to do")
        return 0
    logger.info(f"{o.out}: {where}; {done} rows already written, {len(todo)} prompts to answer")

    if o.engine.engine == "vllm":
        from fastprune.generate.on_vllm import run_on_vllm

        stats = run_on_vllm(as_namespace(o), prompts, cfg)
    else:
        from fastprune.models import load_model

        loaded = load_model(o.model, dtype=o.load.dtype, device=o.load.device, seed=o.load.seed,
                            trust_remote_code=o.load.trust_remote_code)
        stats = run_self_responses(loaded, prompts, o.out, cfg, progress=o.progress)
    rate = f", {stats['tokens_per_s']:.1f} output tok/s" if stats.get("tokens_per_s") else ""
    logger.info(f"{o.out}: wrote {stats['written']} rows ({stats['tokens']} tokens in {stats['seconds']:.1f} s"
                f"{rate}, {stats['runner']} runner, {stats['decode_kernels']} decode kernels)")
    return 0
