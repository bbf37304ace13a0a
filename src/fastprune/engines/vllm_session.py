"""What a stage needs to run on vLLM: the shared command-line options, a checkpoint dir the server can
load, and ``vllm_session``: start (or reuse) the server, hand out a ``VLLMEngine``, always stop it."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from fastprune.engines.vllm_server import ServerOptions, ServerRecord, VLLMServer, print_note
from fastprune.errors import FastpruneError

logger = logging.getLogger(__name__)

ENGINES = ("fastprune", "vllm")


def add_engine_arguments(parser: argparse.ArgumentParser, default_max_model_len: str = "") -> None:
    """``--engine`` and the vLLM server options (``EngineOptions``), the same on every stage that can run on
    vLLM; ``default_max_model_len`` is no longer used (the help says what the default is)."""
    from fastprune.engines.options import EngineOptions
    from fastprune.options import add_options

    add_options(parser, EngineOptions)


def server_options(args, max_model_len: int) -> ServerOptions:
    options = ServerOptions(
        python=args.vllm_python, url=args.vllm_url, tensor_parallel_size=args.tensor_parallel_size,
        dtype=args.vllm_dtype, max_model_len=args.vllm_max_model_len or max_model_len,
        extra_args=tuple(args.vllm_arg), startup_timeout=args.vllm_timeout, cpus=args.vllm_cpus,
        kv_cache_gib=args.vllm_kv_cache_gib, enforce_eager=args.vllm_enforce_eager)
    options.validate()
    return options


def context_limit(checkpoint: str | None) -> int | None:
    """The checkpoint's ``max_position_embeddings`` (vLLM refuses a longer --max-model-len), if it says."""
    if checkpoint is None or not (Path(checkpoint) / "config.json").is_file():
        return None
    import json

    config = json.loads((Path(checkpoint) / "config.json").read_text())
    value = config.get("max_position_embeddings") or (config.get("text_config") or {}).get("max_position_embeddings")
    return int(value) if value else None


def server_checkpoint(loaded, work_dir: str | os.PathLike) -> str:
    """A directory (or hub id) vLLM can load for ``loaded``: its own checkpoint when it has one, else the
    in-memory model (``tiny:``, ``random:``, GGUF) saved once under ``work_dir``."""
    if loaded.path is not None and Path(loaded.path).is_dir():
        return str(Path(loaded.path).resolve())
    if loaded.spec.kind == "hub":
        return loaded.spec.value
    from fastprune.utils_io import atomic_directory, slug

    target = Path(work_dir) / f"vllm-checkpoint-{slug(loaded.name)}"
    if not (target / "config.json").is_file():
        with atomic_directory(target, overwrite=True) as tmp:
            loaded.model.save_pretrained(tmp, safe_serialization=True)
            if loaded.tokenizer is not None:
                loaded.tokenizer.save_pretrained(tmp)
    return str(target.resolve())


@contextlib.contextmanager
def vllm_session(checkpoint: str | None, options: ServerOptions, log_path: str | os.PathLike,
                 concurrency: int) -> Iterator[tuple[object, ServerRecord]]:
    """``with vllm_session(dir, options, log, 8) as (engine, record):`` the server lives exactly this long."""
    from fastprune.engines.vllm_engine import VLLMEngine

    if options.url is None and checkpoint is None:
        raise FastpruneError("--engine vllm needs a checkpoint to serve, or --vllm-url")
    with VLLMServer(checkpoint, options, log_path) as server:
        record = server.record
        print_note(record)
        if options.url and checkpoint and record.model_root and record.model_root != checkpoint:
            logger.warning(f"note: the server at {record.url} serves {record.model_root}, not {checkpoint}; "
                           f"its answers are that model's")
        engine = VLLMEngine(record.url, record.model, concurrency=concurrency)
        try:
            yield engine, record
        finally:
            engine.close()


class ServedModel:
    """A model as the vLLM path sees it: a tokenizer (prompts are encoded here), a name and the checkpoint
    the server loads. A checkpoint on disk is not loaded into this process at all."""

    def __init__(self, name: str, tokenizer, checkpoint: str, spec):
        self.name, self.tokenizer, self.checkpoint, self.spec = name, tokenizer, checkpoint, spec


def load_for_serving(spec_text: str, work_dir: str | os.PathLike, seed: int = 0, save: bool = True
                     ) -> ServedModel:
    """``save=False`` (a reused server): an in-memory model is not written out, only its tokenizer used."""
    from fastprune.models import ensure_embedded_checkpoint, load_model, parse_model_spec

    spec = parse_model_spec(spec_text)
    if spec.kind in ("embedded", "local"):
        from transformers import AutoTokenizer

        path = ensure_embedded_checkpoint() if spec.kind == "embedded" else Path(spec.value)
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(path))
        except (OSError, ValueError) as exc:
            raise FastpruneError(f"{path}: no tokenizer next to the checkpoint ({exc})".splitlines()[0]) from None
        return ServedModel(spec.raw or spec.value, tokenizer, str(Path(path).resolve()), spec)
    loaded = load_model(spec, dtype="float32", device="cpu", seed=seed)
    return ServedModel(loaded.name, loaded.tokenizer, server_checkpoint(loaded, work_dir) if save else None, spec)
