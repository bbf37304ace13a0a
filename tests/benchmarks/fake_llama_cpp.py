"""A stand-in for ``llama_cpp`` (llama-cpp-python 0.3.x), loaded by the tests as the module ``llama_cpp``.

``Llama``'s constructor takes the real keyword-only names (a subset; no ``**kwargs``, so a misspelt one
fails here where the real class would silently ignore it) and ``generate`` has the real signature and
behaviour that matter to a benchmark: with ``reset=True`` and tokens already evaluated it reuses the
longest common prompt prefix (so a caller that forgets ``reset()`` gets a shortened prefill, which the
tests see in ``evals``), it evaluates the prompt, then one token per resumed step, and it never stops on
its own. The model is the GGUF itself, reloaded with transformers (``fastprune.models.gguf.load_gguf``),
so its greedy tokens are what llama.cpp's should be. Greedy at ``temp == 0``, else temperature + top-p
sampling from a generator seeded by ``seed`` / ``set_seed``.
"""

from __future__ import annotations

import os

import numpy as np
import torch

__version__ = "0.3.35-fake"
LLAMA_DEFAULT_SEED = 0xFFFFFFFF
instances: list[Llama] = []
_models: dict = {}


class Llama:
    def __init__(self, model_path: str, *, n_gpu_layers: int = 0, seed: int = LLAMA_DEFAULT_SEED, n_ctx: int = 512,
                 n_batch: int = 512, n_ubatch: int = 512, n_threads: int | None = None,
                 n_threads_batch: int | None = None, logits_all: bool = False, verbose: bool = True):
        if not os.path.exists(model_path):
            raise ValueError(f"Model path does not exist: {model_path}")
        from fastprune.models.gguf import load_gguf

        key = (model_path, os.path.getmtime(model_path))
        if key not in _models:  # the export's own check and the benchmark load the same file
            _models[key] = load_gguf(model_path, dtype=torch.float32)[0]
        self.model = _models[key]
        self.init = {"model_path": model_path, "seed": seed, "n_gpu_layers": n_gpu_layers, "n_ctx": n_ctx,
                     "n_threads": n_threads, "n_threads_batch": n_threads_batch, "verbose": verbose}
        self._seed = seed
        self._n_ctx = n_ctx
        self.n_tokens = 0
        self.input_ids = np.ndarray((n_ctx,), dtype=np.intc)
        self.evals: list[int] = []  # tokens per eval call
        self.generate_calls: list[dict] = []
        self.seeds: list[int] = []
        self.closed = False
        instances.append(self)

    def reset(self):
        self.n_tokens = 0

    def set_seed(self, seed: int):
        self._seed = seed
        self.seeds.append(seed)

    def eval(self, tokens):
        if self.n_tokens + len(tokens) > self._n_ctx:
            raise RuntimeError("llama_decode returned 1")  # what a full context looks like
        self.input_ids[self.n_tokens:self.n_tokens + len(tokens)] = tokens
        self.n_tokens += len(tokens)
        self.evals.append(len(tokens))

    def _logits(self) -> np.ndarray:
        ids = torch.tensor([self.input_ids[: self.n_tokens].tolist()])
        with torch.no_grad():
            return self.model(ids).logits[0, -1].float().numpy()

    def generate(self, tokens, top_k: int = 40, top_p: float = 0.95, min_p: float = 0.05, typical_p: float = 1.0,
                 temp: float = 0.80, repeat_penalty: float = 1.0, reset: bool = True, frequency_penalty: float = 0.0,
                 presence_penalty: float = 0.0, tfs_z: float = 1.0, mirostat_mode: int = 0,
                 mirostat_tau: float = 5.0, mirostat_eta: float = 0.1, penalize_nl: bool = True,
                 logits_processor=None, stopping_criteria=None, grammar=None):
        self.generate_calls.append({"top_k": top_k, "top_p": top_p, "min_p": min_p, "typical_p": typical_p,
                                    "temp": temp, "repeat_penalty": repeat_penalty, "reset": reset,
                                    "frequency_penalty": frequency_penalty, "presence_penalty": presence_penalty})
        rng = np.random.default_rng(self._seed)
        tokens = list(tokens)
        if reset and self.n_tokens > 0:  # llama-cpp-python's prompt-prefix reuse
            prefix = 0
            for a, b in zip(self.input_ids[: self.n_tokens], tokens, strict=False):
                if a != b:
                    break
                prefix += 1
            reuse = prefix - 1 if prefix == len(tokens) else prefix
            if reuse > 0:
                reset, self.n_tokens, tokens = False, reuse, tokens[reuse:]
        if reset:
            self.reset()
        while True:
            self.eval(tokens)
            logits = self._logits()
            if temp == 0.0:
                token = int(np.argmax(logits))
            else:
                probs = np.exp((logits - logits.max()) / temp)
                probs /= probs.sum()
                order = np.argsort(-probs)
                keep = order[: max(1, int(np.searchsorted(np.cumsum(probs[order]), top_p)) + 1)]
                token = int(rng.choice(keep, p=probs[keep] / probs[keep].sum()))
            yield token
            tokens = [token]

    def close(self) -> None:
        self.closed = True
