"""Self-generated responses: a model answers a prompt set, one resumable JSONL row per prompt.

Each prompt's sampling seed is a hash of (run seed, prompt id), so a resumed or re-batched run draws exactly
the tokens an uninterrupted one would have.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from fastprune.errors import FastpruneError
from fastprune.generate.encoding import encode_prompt
from fastprune.generate.jsonl_out import JsonlAppender, recover
from fastprune.generate.prompts import Prompt
from fastprune.generate.types import GenerationRequest, SamplingParams
from fastprune.utils_io import atomic_write_json


@dataclass
class SelfResponseConfig:
    chat: bool = True
    system_prompt: str | None = None
    temperature: float = 0.9
    top_p: float = 0.95
    top_k: int = 0
    max_new_tokens: int = 512
    stop_strings: tuple[str, ...] = ()
    seed: int = 0
    batch_size: int = 8
    max_seq_len: int | None = None  # default: longest prompt + max_new_tokens
    backend: str | None = None  # decode kernels (GenerationEngine backend); None: FASTPRUNE_BACKEND / auto
    extra: dict = field(default_factory=dict)  # model/source descriptions recorded beside the output


def request_seed(run_seed: int, prompt_id: str) -> int:
    digest = hashlib.sha256(f"{run_seed}\0{prompt_id}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 2


def meta_path(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(out.name + ".meta.json")


def _check_meta(out: Path, meta: dict, resuming: bool) -> None:
    """A resume must continue the same job; anything else would mix two datasets in one file."""
    path = meta_path(out)
    if resuming and path.exists():
        old = json.loads(path.read_text())
        diff = sorted(k for k in set(old) | set(meta) if old.get(k) != meta.get(k) and k != "limit")
        if diff:
            raise FastpruneError(
                f"{out} was written with different settings ({', '.join(diff)} differ, see {path}); "
                f"use the same command to resume, or a new --out")
    atomic_write_json(path, meta)


def pending_prompts(prompts: list[Prompt], out: str | Path) -> tuple[list[Prompt], int]:
    """Prompts whose ids are not yet in ``out`` (after dropping a torn last line), and how many are done."""
    done = recover(out)
    return [p for p in prompts if p.id not in done], len(done)


def run_self_responses(loaded, prompts: list[Prompt], out: str | Path, cfg: SelfResponseConfig,
                       progress: bool = True, engine=None) -> dict:
    """Generate the missing rows of ``out``; returns counts and throughput.

    ``engine`` (anything with the ``GenerationEngine.stream`` interface, e.g. a vLLM server's) replaces the
    built-in engine; then ``loaded`` only needs a ``tokenizer`` and a ``name``.
    """
    import time

    from fastprune.generate.engine import GenerationEngine

    out = Path(out)
    ids = [p.id for p in prompts]
    if len(set(ids)) != len(ids):
        raise FastpruneError("prompt ids are not unique; every row of the output needs its own id")
    todo, done = pending_prompts(prompts, out)
    # Settings that change the answers are recorded and must match on resume; the rest only change speed.
    meta = {k: v for k, v in asdict(cfg).items() if k not in ("batch_size", "max_seq_len", "backend", "extra")}
    meta.update(cfg.extra)
    meta = json.loads(json.dumps(meta))  # compare in JSON form (tuples come back as lists)
    _check_meta(out, meta, resuming=done > 0)
    if not todo:
        return {"written": 0, "already_done": done, "tokens": 0, "seconds": 0.0}

    tokenizer = loaded.tokenizer
    if tokenizer is None:
        raise FastpruneError(f"model {loaded.name} has no tokenizer; self-responses need one to encode prompts")
    encoded = [encode_prompt(tokenizer, p.text, cfg.chat, cfg.system_prompt) for p in todo]
    longest = max(len(e) for e in encoded)
    max_seq_len = cfg.max_seq_len or longest + cfg.max_new_tokens
    if engine is None:
        engine = GenerationEngine(loaded, max_batch_size=cfg.batch_size, max_seq_len=max_seq_len,
                                  backend=cfg.backend)
    requests = [
        GenerationRequest(ids_, SamplingParams(
            max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature, top_k=cfg.top_k, top_p=cfg.top_p,
            seed=request_seed(cfg.seed, p.id), stop_strings=cfg.stop_strings), id=p.id)
        for p, ids_ in zip(todo, encoded, strict=True)
    ]
    written = tokens = 0
    start = time.perf_counter()
    with JsonlAppender(out) as sink:
        for index, result in engine.stream(requests, progress=progress):
            prompt = todo[index]
            sink.write({
                "id": prompt.id,
                "prompt": _prompt_field(prompt.text, cfg),
                "response": result.text,
                "num_tokens": result.num_tokens,
                "finish_reason": result.finish_reason,
            })
            written += 1
            tokens += result.num_tokens
    seconds = time.perf_counter() - start
    return {"written": written, "already_done": done, "tokens": tokens, "seconds": seconds,
            "tokens_per_s": tokens / seconds if seconds > 0 else None, "runner": engine.runner.name,
            "decode_kernels": getattr(engine.runner, "linear_backend", "torch")}


def _prompt_field(text: str, cfg: SelfResponseConfig):
    if not cfg.chat:
        return text
    messages = [{"role": "user", "content": text}]
    if cfg.system_prompt is not None:
        messages.insert(0, {"role": "system", "content": cfg.system_prompt})
    return messages
