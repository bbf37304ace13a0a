"""A stand-in for the ``vllm`` package, as far as ``benchmarks/vllm_peer_worker.py`` uses it.

The names and keywords are vLLM 0.32's (``LLM``'s engine arguments, ``SamplingParams``' fields,
``LLM.generate(prompts, sampling_params, *, use_tqdm)``); anything else is a TypeError, so a call the
real package would not take fails here too. Every call is appended to ``$FAKE_VLLM_LOG`` as a JSON line.
``$FAKE_VLLM_MODE``: ok | fail-load (LLM() raises) | die-on-generate (the process exits with code 3).
Each answer is ``max_tokens`` tokens ``(sum(prompt) + seed + k) % 100``; each batch sleeps
``$FAKE_VLLM_TOKEN_DELAY`` seconds (default 0.001) per token.
"""

from __future__ import annotations

import json
import os
import sys
import time
from types import SimpleNamespace

__version__ = "0.0-fake"

_LLM_ARGS = {"model", "dtype", "enforce_eager", "max_model_len", "max_num_seqs", "seed", "skip_tokenizer_init",
             "distributed_executor_backend", "enable_prefix_caching"}
_SAMPLING_FIELDS = {"n", "temperature", "top_p", "top_k", "min_p", "repetition_penalty", "presence_penalty",
                    "frequency_penalty", "seed", "max_tokens", "min_tokens", "ignore_eos", "detokenize"}


def _log(kind: str, **data) -> None:
    path = os.environ.get("FAKE_VLLM_LOG")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"call": kind, **data}) + "\n")


class SamplingParams:
    def __init__(self, **fields):
        unknown = set(fields) - _SAMPLING_FIELDS
        if unknown:
            raise TypeError(f"SamplingParams got unexpected keyword(s) {sorted(unknown)}")
        self.fields = fields


class LLM:
    def __init__(self, model: str, **kwargs):
        unknown = set(kwargs) - _LLM_ARGS
        if unknown:
            raise TypeError(f"LLM got unexpected engine argument(s) {sorted(unknown)}")
        print("INFO fake vllm: loading (vLLM logs to stdout)", flush=True)  # must not reach the protocol
        env = {k: os.environ.get(k) for k in ("VLLM_CPU_OMP_THREADS_BIND", "VLLM_CPU_KVCACHE_SPACE",
                                              "VLLM_ENABLE_V1_MULTIPROCESSING", "PYTHONPATH")}
        _log("LLM", model=model, kwargs=kwargs, env=env, pid=os.getpid())
        if os.environ.get("FAKE_VLLM_MODE") == "fail-load":
            raise RuntimeError("fake: cannot load this checkpoint")
        self.llm_engine = SimpleNamespace(model_config=SimpleNamespace(dtype=f"torch.{kwargs.get('dtype')}"))

    def generate(self, prompts, sampling_params=None, *, use_tqdm=True):
        if os.environ.get("FAKE_VLLM_MODE") == "die-on-generate":
            sys.stderr.write("fake: dying\n")
            os._exit(3)
        params = sampling_params if isinstance(sampling_params, list) else [sampling_params] * len(prompts)
        if len(params) != len(prompts):
            raise ValueError("The lengths of prompts and sampling_params must be the same.")
        _log("generate", prompts=prompts, params=[p.fields for p in params], use_tqdm=use_tqdm)
        outputs = []
        for prompt, p in zip(prompts, params, strict=True):
            ids = prompt["prompt_token_ids"]
            n = p.fields["max_tokens"]
            tokens = [(sum(ids) + (p.fields.get("seed") or 0) + k) % 100 for k in range(n)]
            outputs.append(SimpleNamespace(prompt_token_ids=list(ids),
                                           outputs=[SimpleNamespace(token_ids=tuple(tokens))]))
        delay = float(os.environ.get("FAKE_VLLM_TOKEN_DELAY", "0.001"))
        time.sleep(delay * max(p.fields["max_tokens"] for p in params))
        return outputs
