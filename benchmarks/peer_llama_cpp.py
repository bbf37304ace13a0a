"""llama.cpp as a peer of ``bench_generate.py``, through ``llama-cpp-python`` (optional: it builds from source).

The model is exported with fastprune's own GGUF exporter (``fastprune.export``) at the precision closest
to the engine's dtype: f32 for float32 (exact), f16 for float16 and bfloat16 (llama.cpp computes those
matrices in f16; the row says so), and verified before use (transformers' GGUF reload, and llama.cpp's
greedy tokens against HF's). The same prompt token ids are fed with ``Llama.generate`` after a
``reset()`` (so llama-cpp-python's prompt-prefix reuse cannot skip a repeated prompt's prefill), and
exactly ``n`` tokens are taken from it: that generator never stops on its own, so an EOS it samples is
fed back like any token, as the other engines do with ``ignore_eos``. ``Llama`` holds one sequence, so
a batch runs its sequences one after another; timings are black-box like the other rows (1 token =
prefill + one sample, per step = (t_N - t_1) / (N - 1)).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from peers import Peer, PeerRun

log = logging.getLogger(__name__)
GGUF_TYPE = {"float32": "f32", "float16": "f16", "bfloat16": "f16"}


def gguf_type(dtype: str) -> str:
    """The GGUF tensor type closest to the engine's ``dtype``."""
    return GGUF_TYPE.get(str(dtype).replace("torch.", ""), "f32")


def precision_note(qtype: str, dtype: str) -> str:
    if qtype == "f32" and dtype == "float32":
        return "GGUF f32: the engine's float32 weights exactly"
    return f"GGUF {qtype}: the closest llama.cpp type to the engine's {dtype}"


def sampler_kwargs(sampling: dict) -> dict:
    """``Llama.generate`` keywords for the benchmark's sampling: greedy (temp 0) or temperature + top-p, with
    llama.cpp's extra filters (top-k 40, min-p 0.05, repeat penalty) switched off as in the other engines."""
    temperature = float(sampling.get("temperature", 0.0))
    return {"top_k": int(sampling.get("top_k", 0)) if temperature > 0 else 1,
            "top_p": float(sampling.get("top_p", 1.0)), "min_p": 0.0, "typical_p": 1.0, "temp": temperature,
            "repeat_penalty": 1.0, "frequency_penalty": 0.0, "presence_penalty": 0.0}


class LlamaCppPeer(Peer):
    """``with LlamaCppPeer(spec, dtype, work_dir, threads, n_ctx) as peer: fn = peer.runner(prompts, ...)``."""

    name = "llama.cpp"

    def __init__(self, model_spec: str, dtype: str, work_dir: str | os.PathLike, threads: int, n_ctx: int,
                 verify: bool = True, gpu: bool = False):
        self.model_spec = model_spec
        self.dtype = str(dtype).replace("torch.", "")
        self.qtype = gguf_type(dtype)
        self.work_dir = Path(work_dir)
        self.threads = threads
        self.n_ctx = n_ctx
        self.verify = verify
        self.gpu_layers = -1 if gpu else 0  # -1: every layer on the GPU (where the build has a GPU backend)
        self.llm = None
        self.info: dict = {}

    def start(self) -> dict:
        import llama_cpp

        from fastprune.export.api import export_gguf

        started = time.monotonic()
        path = self.work_dir / f"peer-{self.qtype}.gguf"
        report = export_gguf(self.model_spec, path, qtype=self.qtype, overwrite=True, verify=self.verify)
        exported = time.monotonic()
        self.llm = llama_cpp.Llama(model_path=str(path), n_ctx=self.n_ctx, n_threads=self.threads,
                                   n_threads_batch=self.threads, n_gpu_layers=self.gpu_layers, seed=0,
                                   verbose=False)
        verification = report.get("verification") or {}
        self.info = {"version": getattr(llama_cpp, "__version__", None), "gguf_type": self.qtype,
                     "precision": precision_note(self.qtype, self.dtype),
                     "gguf": str(path), "gguf_sha256": report.get("sha256"),
                     "export_verified": verification.get("llama_cpp", {}).get("status") if self.verify else "no",
                     "export_s": round(exported - started, 2), "load_s": round(time.monotonic() - exported, 2),
                     "startup_s": round(time.monotonic() - started, 2),
                     "threads": self.threads, "n_gpu_layers": self.gpu_layers,
                     "api": "Llama.generate after reset(), n tokens taken; batch sequences run one after another"}
        log.info("llama.cpp peer ready: %s GGUF exported in %.0f s", self.qtype, self.info["export_s"])
        return self.info

    @property
    def label(self) -> str:
        return f"llama.cpp {self.info.get('version')}, GGUF {self.qtype}, sequences in turn"

    def generate(self, prompts: list[list[int]], n: int, sampling: dict | None = None,
                 seeds: list[int] | None = None) -> PeerRun:
        kwargs = sampler_kwargs(sampling or {})
        tokens = []
        for i, ids in enumerate(prompts):
            if seeds is not None:
                self.llm.set_seed(int(seeds[i]))
            self.llm.reset()
            out = []
            stream = self.llm.generate(list(ids), reset=True, **kwargs)
            for token in stream:
                out.append(int(token))
                if len(out) == n:
                    break
            stream.close()
            tokens.append(out)
        return PeerRun(new_tokens=[len(t) for t in tokens], token_ids=tokens)

    def close(self) -> None:
        llm, self.llm = self.llm, None
        if llm is not None:
            llm.close()
