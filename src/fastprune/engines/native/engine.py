"""The generation engine: continuous batching over a static KV cache, one decode step per token.

Scheduling, in one loop: free slots are refilled with waiting prompts (one batched prefill for all the
newcomers), then every occupied slot advances one token in a single decode step. A request that stops
frees its slot at once, so long and short answers mix without idle rows.
"""

from __future__ import annotations

import collections
import sys
import time
from collections.abc import Iterator, Sequence

import torch

from fastprune.engines.encoding import encode_prompt
from fastprune.engines.native.stops import ActiveSequence
from fastprune.engines.request_types import GenerationRequest, GenerationResult, SamplingParams
from fastprune.errors import FastpruneError
from fastprune.models.adapter import adapter_for
from fastprune.models.loader import unwrap_model
from fastprune.ops import sample_plan


def _eos_ids(model, tokenizer) -> frozenset[int]:
    """EOS ids of the tokenizer and of the model's generation config (HF ``generate`` stops on the latter)."""
    ids: set[int] = set()
    for source in (getattr(tokenizer, "eos_token_id", None),
                   getattr(getattr(model, "generation_config", None), "eos_token_id", None)):
        if source is None:
            continue
        ids.update(int(t) for t in (source if isinstance(source, (list, tuple)) else [source]))
    return frozenset(ids)


class GenerationEngine:
    """Batched generation for any causal LM ``fastprune`` loads.

    ``model`` is an HF causal LM or a ``LoadedModel`` (its tokenizer is used unless one is given).
    ``max_batch_size`` slots decode together; ``max_seq_len`` bounds prompt + answer (the KV cache is
    ``max_batch_size x max_seq_len`` per layer). ``runner``: ``"auto"`` (the direct decoder for Llama-like
    families, else the HF forward), ``"fast"`` or ``"hf"``. ``cuda_graphs`` (default: on for the fast runner
    on a CUDA device) replays the decode step as captured CUDA graphs. ``backend`` picks the fast runner's
    decode-step kernels: ``None`` follows ``FASTPRUNE_BACKEND`` (default auto: the native CPU kernels for
    float32 on a CPU, torch elsewhere); ``"torch"`` keeps every op on torch, bit-for-bit HF's computation.
    """

    def __init__(self, model, tokenizer=None, max_batch_size: int = 8, max_seq_len: int = 2048,
                 runner: str = "auto", cuda_graphs: bool | None = None, backend: str | None = None):
        if not isinstance(model, torch.nn.Module):  # a LoadedModel: its tokenizer unless one is given
            tokenizer = tokenizer if tokenizer is not None else getattr(model, "tokenizer", None)
            model = unwrap_model(model, "GenerationEngine")
        if max_batch_size < 1 or max_seq_len < 2:
            raise FastpruneError(
                f"max_batch_size must be >= 1 and max_seq_len >= 2 (got {max_batch_size}, {max_seq_len})")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.max_batch_size = max_batch_size
        self.max_seq_len = max_seq_len
        self.adapter = adapter_for(model)
        self.eos_ids = _eos_ids(model, tokenizer)
        self.device = next(model.parameters()).device
        self.runner = self._make_runner(runner, backend)
        self._sampler = None  # the sampling op's plan, resolved at the first sampled (non-greedy) step
        if cuda_graphs is None:
            cuda_graphs = self.device.type == "cuda" and self.runner.name == "fast"
        if cuda_graphs:
            if self.device.type != "cuda" or self.runner.name != "fast":
                raise FastpruneError("cuda_graphs needs a CUDA device and the fast runner (a Llama-like model)")
            from fastprune.engines.native.cuda_graphs import CudaGraphRunner

            self.runner = CudaGraphRunner(self.runner)

    def _make_runner(self, kind: str, backend: str | None):
        from fastprune.engines.native.runner_hf import HFRunner

        if kind not in ("auto", "fast", "hf"):
            raise FastpruneError(f"runner must be auto, fast or hf, got {kind!r}")
        if kind in ("auto", "fast"):
            from fastprune.engines.native.runner_fast import FastRunner, fast_path_reason

            reason = fast_path_reason(self.model, self.adapter)
            if reason is None:
                return FastRunner(self.model, self.adapter, self.max_batch_size, self.max_seq_len,
                                  linear_backend=backend)
            if kind == "fast":
                raise FastpruneError(f"the fast decoder cannot run this model: {reason}; use runner='hf'")
        return HFRunner(self.model, self.adapter, self.max_batch_size, self.max_seq_len)

    # -- public API -------------------------------------------------------------------------------------

    def generate(self, requests: Sequence[GenerationRequest], progress: bool = False) -> list[GenerationResult]:
        """Run all ``requests``; results come back in request order."""
        results: list[GenerationResult | None] = [None] * len(requests)
        for index, result in self.stream(requests, progress=progress):
            results[index] = result
        return results

    def generate_texts(self, prompts: Sequence[str], sampling: SamplingParams | None = None, chat: bool = True,
                       system_prompt: str | None = None, progress: bool = False) -> list[GenerationResult]:
        """Tokenize ``prompts`` (through the chat template when ``chat``) and generate."""
        sampling = sampling or SamplingParams()
        requests = [GenerationRequest(self.encode_prompt(p, chat, system_prompt), sampling, id=str(i))
                    for i, p in enumerate(prompts)]
        return self.generate(requests, progress=progress)

    def encode_prompt(self, prompt: str | list[dict], chat: bool = True, system_prompt: str | None = None
                      ) -> list[int]:
        """Token ids of ``prompt``: a string, or a messages list (which implies the chat template)."""
        return encode_prompt(self._need_tokenizer("encode text prompts"), prompt, chat, system_prompt)

    def stream(self, requests: Sequence[GenerationRequest], progress: bool = False
               ) -> Iterator[tuple[int, GenerationResult]]:
        """Yield ``(request index, result)`` as each request finishes (completion order)."""
        requests = self._validated(requests)
        pending = collections.deque(range(len(requests)))
        slots: list[ActiveSequence | None] = [None] * self.max_batch_size
        bar = _progress(len(requests), progress)
        new_tokens, started = 0, time.perf_counter()
        try:
            while pending or any(slots):
                finished: list[ActiveSequence] = []
                free = [s for s, a in enumerate(slots) if a is None]
                if pending and free:
                    admitted = [(s, self._activate(pending.popleft(), requests)) for s in free[: len(pending)]]
                    logits = self.runner.prefill([s for s, _ in admitted], [a.request.prompt_ids for _, a in admitted])
                    for (s, seq), tok in zip(admitted, self._sample(logits, [a for _, a in admitted]), strict=True):
                        slots[s] = seq
                        if seq.append(tok, self.tokenizer):
                            finished.append(seq)
                            slots[s] = None
                    new_tokens += len(admitted)
                hi = max((s + 1 for s, a in enumerate(slots) if a is not None), default=0)
                if hi:
                    # Rows up to the highest busy slot decode together; an idle row in between feeds a dummy
                    # token at position 0 of its own slot, which its next prefill overwrites.
                    tokens = [a.generated[-1] if a else 0 for a in slots[:hi]]
                    positions = [a.position if a else 0 for a in slots[:hi]]
                    logits = self.runner.decode(tokens, positions)
                    busy = [s for s in range(hi) if slots[s] is not None]
                    picked = self._sample(logits[busy] if len(busy) < hi else logits, [slots[s] for s in busy])
                    for s, tok in zip(busy, picked, strict=True):
                        if slots[s].append(tok, self.tokenizer):
                            finished.append(slots[s])
                            slots[s] = None
                    new_tokens += len(busy)
                for seq in finished:
                    bar.update(1)
                    yield seq.index, seq.result(self.tokenizer)
                if bar.total:
                    bar.set_postfix_str(f"{new_tokens / max(time.perf_counter() - started, 1e-9):.1f} tok/s",
                                        refresh=False)
        finally:
            bar.close()

    # -- internals --------------------------------------------------------------------------------------

    def _need_tokenizer(self, what: str):
        if self.tokenizer is None:
            raise FastpruneError(f"the engine has no tokenizer, which it needs to {what}; pass one")
        return self.tokenizer

    def _validated(self, requests: Sequence[GenerationRequest]) -> list[GenerationRequest]:
        out = []
        vocab = self.model.get_input_embeddings().weight.shape[0]
        for i, req in enumerate(requests):
            if not isinstance(req, GenerationRequest):
                raise FastpruneError(f"request {i} is a {type(req).__name__}, not a GenerationRequest")
            if req.id is None:
                req = GenerationRequest(req.prompt_ids, req.sampling, id=str(i))
            n = len(req.prompt_ids)
            if n >= self.max_seq_len:
                raise FastpruneError(
                    f"request {req.id!r}: prompt of {n} tokens leaves no room in max_seq_len={self.max_seq_len}; "
                    f"raise max_seq_len or shorten the prompt")
            if min(req.prompt_ids) < 0 or max(req.prompt_ids) >= vocab:
                raise FastpruneError(f"request {req.id!r}: prompt ids must be in [0, {vocab}) for this model")
            if req.sampling.stop_strings:
                self._need_tokenizer("check stop strings")
            out.append(req)
        return out

    def _activate(self, index: int, requests: list[GenerationRequest]) -> ActiveSequence:
        req = requests[index]
        seed = req.sampling.seed
        if seed is None:
            # Unseeded requests follow torch's global RNG, so torch.manual_seed still makes a run repeatable.
            seed = int(torch.randint(0, 2**62, (1,)).item())
        return ActiveSequence(index=index, request=req, seed=seed,
                              stop_ids=frozenset() if req.sampling.ignore_eos
                              else self.eos_ids | frozenset(req.sampling.stop_token_ids),
                              max_total=self.max_seq_len)

    def _sample(self, logits: torch.Tensor, seqs: list[ActiveSequence]) -> list[int]:
        # A NaN or inf logit (an overflowing float16 model, NaN weights) would silently decide the token.
        row_max = logits.amax(-1)
        if not bool(torch.isfinite(row_max).all()):
            bad = [seqs[i].request.id for i in (~torch.isfinite(row_max)).nonzero()[:, 0].tolist()]
            raise FastpruneError(
                f"the model produced non-finite logits (NaN or inf) for request(s) {', '.join(map(str, bad))} "
                f"at generated token {len(seqs[0].generated)}; check the checkpoint's weights, or run in float32 "
                f"or bfloat16 if this is a float16 overflow")
        params = [a.request.sampling for a in seqs]
        if all(p.greedy for p in params):
            return logits.argmax(-1).tolist()
        dev = logits.device
        if self._sampler is None:
            self._sampler = sample_plan(dev)
        ids = self._sampler(
            logits,
            torch.tensor([p.temperature for p in params], dtype=torch.float32, device=dev),
            torch.tensor([p.top_k for p in params], dtype=torch.int64, device=dev),
            torch.tensor([p.top_p for p in params], dtype=torch.float32, device=dev),
            seeds=[a.seed for a in seqs], offsets=[len(a.generated) for a in seqs],
        )
        return ids.tolist()


class _NoBar:
    total = 0

    def update(self, n):
        pass

    def set_postfix_str(self, *a, **k):
        pass

    def close(self):
        pass


def _progress(total: int, enabled: bool):
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="generate", unit="prompt", file=sys.stderr, dynamic_ncols=True)
