"""The generate stage's options, defined once: ``fastprune generate`` flags and the ``generate:`` section
of a ``fastprune run`` config both derive from :class:`GenerateOptions`.

:class:`SelfResponseConfig` is the part that changes the answers or how they are decoded
(``self_responses.run_self_responses`` reads it); the rest says which prompts, which model and engine, and
where the JSONL goes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from fastprune.engines.options import EngineOptions
from fastprune.models.options import ModelOptions
from fastprune.options import option


@dataclass
class SelfResponseConfig:
    chat: bool = option(True, flag="--no-chat-template",
                        help="feed raw prompt text instead of the tokenizer's chat template")
    system_prompt: str | None = option(None, help="system message put before each prompt (chat template only)")
    temperature: float = option(0.9, help="0 = greedy")
    top_p: float = option(0.95, help="nucleus sampling mass")
    top_k: int = option(0, help="0 = off")
    max_new_tokens: int = option(512, help="answer length limit in tokens")
    stop_strings: list[str] = option([], flag="--stop", append=True, metavar="TEXT",
                                     help="stop string (repeatable)")
    seed: int = option(0, help="run seed (the stage's --seed); each prompt's seed derives from it and its id",
                       cli=False, yaml=False)
    batch_size: int = option(8, help="sequences decoded together (KV cache slots; vLLM: requests in flight)")
    max_seq_len: int | None = option(None, help="KV cache length (default: longest prompt + max new tokens)")
    backend: Literal["auto", "torch", "native"] | None = option(
        None, help="decode-step kernels of the fast runner: native (C++, CPU float32), torch (HF's ops bit for "
                   "bit); default: FASTPRUNE_BACKEND, else auto")
    extra: dict = option({}, help="model/source descriptions recorded beside the output", cli=False, yaml=False)


@dataclass
class GenerateOptions:
    model: str = option(help="model spec: smollm2-135m, a checkpoint dir, a .gguf, random:NAME, tiny:FAMILY",
                        positional=True, yaml=False)
    out: str = option(help="output JSONL (appended to on resume)", metavar="FILE.jsonl", yaml=False)
    prompts: str = option("gsm8k-train", metavar="SRC", help="gsm8k-train, gsm8k-test, code-alpaca, a "
                                                             ".json/.jsonl/.txt path, or a HF dataset name")
    field: str | None = option(None, help="record field holding the prompt (JSON/JSONL files and HF datasets); "
                                          "default: detected from prompt, question, instruction (+ input), "
                                          "messages, text, problem")
    template: str | None = option(None, help="format string combining record fields, e.g. "
                                             "'{instruction}\\n{input}'")
    split: str = option("train", help="split of a HF dataset")
    limit: int | None = option(None, help="use only the first N prompts of the source (default: all)")
    sampling: SelfResponseConfig = option(default_factory=SelfResponseConfig, flatten=True,
                                          help="sampling and decoding")
    progress: bool = option(True, flag="--no-progress", help="no progress bar")
    load: ModelOptions = option(default_factory=ModelOptions, flatten=True, yaml=False,
                                help="how the model loads (run-wide keys in fastprune run)")
    engine: EngineOptions = option(default_factory=EngineOptions, flatten=True, yaml=False,
                                   help="which engine answers (run-wide keys in fastprune run)")
