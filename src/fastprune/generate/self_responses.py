"""Self-generated responses: a model answers a prompt set, one resumable JSONL row per prompt.

Each prompt's sampling seed is a hash of (run seed, prompt id), so a resumed or re-batched run draws exactly
the tokens an uninterrupted one would have. Rows carry the source's own ids; a resume first checks that
every row already written answers the prompt the source now has under that id.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

from fastprune.data.chat import chat_messages
from fastprune.engines.encoding import encode_prompt
from fastprune.engines.request_types import GenerationRequest, SamplingParams
from fastprune.errors import FastpruneError
from fastprune.generate.jsonl_out import JsonlAppender, recover
from fastprune.generate.options import SelfResponseConfig
from fastprune.generate.prompts import Prompt, prompt_hash
from fastprune.utils_io import atomic_write_json


def request_seed(run_seed: int, prompt_id: str) -> int:
    digest = hashlib.sha256(f"{run_seed}\0{prompt_id}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 2


def meta_path(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(out.name + ".meta.json")


def _meta(cfg: SelfResponseConfig) -> dict:
    """Settings that change the answers: recorded beside the output and required to match on resume."""
    meta = {k: v for k, v in asdict(cfg).items() if k not in ("batch_size", "max_seq_len", "backend", "extra")}
    meta.update(cfg.extra)
    return json.loads(json.dumps(meta))  # compare in JSON form (tuples come back as lists)


def _check_meta(out: Path, meta: dict) -> None:
    """A resume must continue the same job; anything else would mix two datasets in one file."""
    path = meta_path(out)
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except json.JSONDecodeError:
            raise FastpruneError(f"{path} is not valid JSON; it was edited or corrupted (restore it, or write "
                                 "to a new --out)") from None
        # limit may grow; the prompt field of the source is checked row by row instead
        ignored = ("limit",)
        diff = sorted(k for k in set(old) | set(meta) if old.get(k) != meta.get(k) and k not in ignored)
        if diff:
            raise FastpruneError(
                f"{out} was written with different settings ({', '.join(diff)} differ, see {path}); "
                f"use the same command to resume, or a new --out")


def _check_rows(prompts: list[Prompt], rows: dict[str, dict], out: Path, cfg: SelfResponseConfig) -> None:
    """Every row already written must answer the prompt the source holds under its id, as it was fed."""
    by_key = {p.key: p for p in prompts}
    for key, row in rows.items():
        prompt = by_key.get(key)
        if prompt is None:
            raise FastpruneError(
                f"{out}: row id {row['id']!r} is not among the {len(prompts)} prompts of the source (was it "
                "removed, re-keyed, or cut by a smaller --limit?); restore the source, or write to a new --out")
        if prompt_hash(row.get("prompt")) != prompt_hash(prompt_record(prompt.text, cfg)):
            raise FastpruneError(
                f"{out}: row id {row['id']!r} answers a different prompt than the source now holds under that id "
                "(the source was edited); restore it, or write to a new --out")


def pending_prompts(prompts: list[Prompt], out: str | Path, cfg: SelfResponseConfig
                    ) -> tuple[list[Prompt], int]:
    """Prompts whose ids are not yet in ``out`` (after dropping a torn last line), and how many are done.

    A resume is checked before anything runs: same settings, and every written row matching the source.
    """
    out = Path(out)
    if out.is_dir():
        raise FastpruneError(f"--out {out} is a directory; give the path of a .jsonl file (e.g. {out}/responses.jsonl)")
    rows = recover(out)
    if rows:
        _check_meta(out, _meta(cfg))
        _check_rows(prompts, rows, out, cfg)
    return [p for p in prompts if p.key not in rows], len(rows)


def run_self_responses(loaded, prompts: list[Prompt], out: str | Path, cfg: SelfResponseConfig,
                       progress: bool = True, engine=None) -> dict:
    """Generate the missing rows of ``out``; returns counts and throughput.

    ``engine`` (anything with the ``GenerationEngine.stream`` interface, e.g. a vLLM server's) replaces the
    built-in engine; then ``loaded`` only needs a ``tokenizer`` and a ``name``.
    """
    import time

    from fastprune.engines import GenerationEngine

    out = Path(out)
    keys = [p.key for p in prompts]
    if len(set(keys)) != len(keys):
        raise FastpruneError("prompt ids are not unique; every row of the output needs its own id")
    todo, done = pending_prompts(prompts, out, cfg)
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
            seed=request_seed(cfg.seed, p.key), stop_strings=cfg.stop_strings), id=p.key)
        for p, ids_ in zip(todo, encoded, strict=True)
    ]
    written = tokens = 0
    start = time.perf_counter()
    with JsonlAppender(out) as sink:
        for index, result in engine.stream(requests, progress=progress):
            prompt = todo[index]
            if written == 0:
                # Written with the first answer, so a job that fails before any (bad weights, NaN logits,
                # a refused setting) leaves nothing behind, and a resume always finds the settings.
                atomic_write_json(meta_path(out), _meta(cfg))
            sink.write({
                "id": prompt.id,
                "prompt": prompt_record(prompt.text, cfg),
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


def prompt_record(text: str | list[dict], cfg: SelfResponseConfig):
    """The prompt as the output row records it: exactly what was fed (the user's text, or the chat)."""
    if not cfg.chat or not isinstance(text, str):
        return text
    return chat_messages(text, cfg.system_prompt)
