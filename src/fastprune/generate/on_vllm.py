"""``fastprune generate MODEL --engine vllm``: the same resumable JSONL, answered by a vLLM server.

Prompts are encoded here (chat template included) and sent as token ids, so the server answers exactly
the input fastprune's own engine would get; each prompt keeps its own seed (from the run seed and its id).
The server's log goes to ``OUT.vllm.log`` and what ran (command, CPU binding, version) to
``OUT.vllm-server.json``.
"""

from __future__ import annotations

from pathlib import Path

from fastprune.engines.encoding import encode_prompt
from fastprune.engines.vllm_server import resolve_python, server_threads
from fastprune.engines.vllm_session import context_limit, load_for_serving, server_options, vllm_session
from fastprune.generate.self_responses import SelfResponseConfig, pending_prompts, run_self_responses
from fastprune.utils_io import atomic_write_json


def run_on_vllm(args, prompts, cfg: SelfResponseConfig) -> dict:
    from fastprune.provenance import run_provenance

    out = Path(args.out)
    if args.vllm_url is None:
        resolve_python(args.vllm_python)  # before anything is loaded or written
    served = load_for_serving(args.model, out.parent, seed=args.seed, save=args.vllm_url is None)
    todo, _ = pending_prompts(prompts, out, cfg)  # cfg records the engine, so a resume cannot mix engines
    longest = max(len(encode_prompt(served.tokenizer, p.text, cfg.chat, cfg.system_prompt)) for p in todo)
    wanted = cfg.max_seq_len or longest + cfg.max_new_tokens
    # vLLM refuses a context beyond the model's; a prompt too long for it is then refused by name
    options = server_options(args, min(wanted, context_limit(served.checkpoint) or wanted))
    log = out.with_name(out.name + ".vllm.log")
    with vllm_session(served.checkpoint, options, log, concurrency=args.batch_size) as (engine, record):
        atomic_write_json(out.with_name(out.name + ".vllm-server.json"),
                          {"server": record.as_dict(), "concurrency": args.batch_size,
                           "provenance": run_provenance(threads=server_threads(record))})
        return run_self_responses(served, prompts, out, cfg, progress=args.progress, engine=engine)
