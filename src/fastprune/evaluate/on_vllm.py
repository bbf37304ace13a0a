"""``fastprune eval ... --engine vllm``: every generative task's generation runs on a vLLM server.

Each model gets its own server, alive only while that model is evaluated (its log in
``OUT/vllm-<model>.log``, what ran under ``engine`` in run.json). Scoring tasks (log-likelihoods, ppl,
first-token probes) keep using the model loaded here, so their numbers do not depend on the engine;
``lm_eval:`` tasks go to the server through lm-eval's own ``local-completions`` model.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from fastprune.engines.vllm_server import resolve_python
from fastprune.engines.vllm_session import server_checkpoint, server_options, vllm_session
from fastprune.errors import FastpruneError
from fastprune.utils_io import slug


def engine_for(args, models):
    """The ``engine_for`` hook of ``run_eval`` for these CLI arguments (checked before any model loads)."""
    if args.vllm_url and len(models) > 1:
        raise FastpruneError("--vllm-url serves one model; evaluate one model per run with it, or let "
                             "fastprune start a server per model (--vllm-python)")
    if not args.vllm_url:
        resolve_python(args.vllm_python)

    @contextlib.contextmanager
    def make(spec: str, lm, out: Path):
        options = server_options(args, lm.max_seq_len)
        checkpoint = None if args.vllm_url else server_checkpoint(lm.loaded, out)
        log = Path(out) / f"vllm-{slug(spec)}.log"
        with vllm_session(checkpoint, options, log, concurrency=lm.batch_size) as (engine, record):
            yield engine, {**record.as_dict(), "checkpoint": checkpoint, "concurrency": lm.batch_size,
                           "tokenizer": checkpoint or (str(lm.loaded.path) if lm.loaded.path else None)}

    return make
