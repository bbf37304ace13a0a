"""Which engine a stage generates with, and how its vLLM server starts: one definition for every stage
that can run on vLLM (generate, eval, bench) and for ``fastprune run`` (the run-wide keys of the same
names). Stages include :class:`EngineOptions` with ``flatten=True``; the field names are the argparse
dests the vLLM code reads (``server_options(args, ...)``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from fastprune.engines.vllm_server import PYTHON_ENV
from fastprune.options import option

GROUP = "vLLM server (--engine vllm)"


def vllm_python_option(group: str | None = GROUP, **spec):
    return option(None, **spec, help=f"Python of the vLLM environment (default ${PYTHON_ENV}; `make setup-vllm` makes "
                             ".venv-vllm/bin/python)", metavar="PATH", group=group)


@dataclass
class EngineOptions:
    engine: Literal["fastprune", "vllm"] = option(
        "fastprune", help="fastprune: the built-in engine in this process; vllm: a vLLM OpenAI-compatible "
                          "server (started from --vllm-python, or reused with --vllm-url)")
    vllm_python: str | None = vllm_python_option()
    vllm_url: str | None = option(None, help="reuse this running server instead of starting one", metavar="URL",
                                  group=GROUP)
    tensor_parallel_size: int = option(1, help="vLLM --tensor-parallel-size", group=GROUP)
    vllm_arg: list[str] = option([], help="extra server argument, passed through unchanged (repeatable; use "
                                          "--vllm-arg=--flag)", append=True, metavar="ARG", group=GROUP)
    vllm_timeout: float = option(600.0, help="seconds to wait for the server to be ready", group=GROUP)
    vllm_cpus: str | None = option(None, help="CPU backend: cores to bind the server's threads to, e.g. 0-1 "
                                              "(default: every core this process may use, none reserved)",
                                   metavar="LIST", group=GROUP)
    vllm_kv_cache_gib: int = option(1, help="CPU backend: KV cache space (whole GiB)", group=GROUP)
    vllm_max_model_len: int | None = option(
        None, help="server context length (default: what the stage needs: its longest prompt + answer, within "
                   "the model's context)", group=GROUP)
    vllm_dtype: str = option("float32", help="server --dtype", group=GROUP)
    vllm_enforce_eager: bool = option(
        True, flag="--vllm-compile", group=GROUP,
        help="let vLLM compile and capture graphs (no --enforce-eager): slower start, faster serving; what a GPU "
             "deployment runs")
