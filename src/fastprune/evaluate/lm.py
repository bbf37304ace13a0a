"""One model interface for every task: generation, continuation log-likelihoods, next-token log-probs.

Generation goes through ``fastprune.engines.GenerationEngine`` (batched, continuous). Scoring is
batched here: one forward pass per batch of right-padded sequences (right padding keeps the default
position ids right for every real token), log-softmax taken only at the positions that are scored so a
49k vocabulary does not cost B x L x V memory.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from fastprune.data.batching import pad_batch, pad_id_of
from fastprune.data.chat import chat_messages, has_chat_template, render_chat
from fastprune.errors import FastpruneError


@dataclass
class Generation:
    text: str
    token_ids: list[int]
    finish_reason: str  # "eos" | "stop_string" | "length"
    num_tokens: int
    prompt_truncated: bool = False


def _chunks(seq: Sequence, size: int):
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


class EvalModel:
    """A ``LoadedModel`` seen by the tasks. ``batch_size`` bounds both generation and scoring batches."""

    def __init__(self, loaded, batch_size: int = 8, max_seq_len: int = 2048, progress: bool = False):
        if loaded.tokenizer is None:
            raise FastpruneError(f"model {loaded.name} has no tokenizer; evaluation needs one next to it")
        if batch_size < 1:
            raise FastpruneError(f"--batch-size must be >= 1, got {batch_size}")
        self.loaded = loaded
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.name = loaded.name
        self.batch_size = batch_size
        limit = getattr(loaded.adapter.text_config, "max_position_embeddings", None) or max_seq_len
        self.max_seq_len = min(max_seq_len, int(limit))
        self.progress = progress
        self.plain_chat_prompts = 0  # chat prompts rendered as plain text (no template); the runner records it
        tok = self.tokenizer
        self.pad_id = pad_id_of(tok)
        self._engine = None
        self.served: dict | None = None  # set with the engine of a server (url, model, checkpoint)

    def set_engine(self, engine, served: dict | None = None) -> None:
        """Generate with ``engine`` (the ``GenerationEngine`` interface, e.g. a vLLM server's) instead."""
        self._engine, self.served = engine, served

    # ---- text <-> ids -------------------------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        # verbose=False: a whole corpus (ppl) is longer than model_max_length on purpose
        return list(self.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=True)

    def prompt_ids(self, text: str, chat: bool = False, system: str | None = None) -> list[int]:
        """Token ids of a plain prompt (with BOS when the tokenizer adds one) or of a one-turn chat."""
        tok = self.tokenizer
        if chat and has_chat_template(tok):
            return render_chat(tok, chat_messages(text, system or None))
        if chat:  # no template: a plain rendering the model can still follow, recorded in the task's meta
            self.plain_chat_prompts += 1
            text = (f"{system}\n\n" if system else "") + text + "\n"
        return list(tok(text)["input_ids"])

    # ---- generation -------------------------------------------------------------------------
    def _get_engine(self):
        if self._engine is None:
            try:
                from fastprune.engines import GenerationEngine
            except ImportError as exc:  # pragma: no cover - the engine ships with fastprune
                raise FastpruneError(f"the generation engine is not available: {exc}") from exc
            self._engine = GenerationEngine(
                self.model, self.tokenizer, max_batch_size=self.batch_size, max_seq_len=self.max_seq_len
            )
        return self._engine

    def generate(
        self,
        prompts: Sequence[list[int]],
        max_new_tokens: int,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int = 0,
        stop_strings: Sequence[str] = (),
    ) -> list[Generation]:
        """Generate for every prompt (same order). Prompts too long for the context lose their start.

        Each request gets its own seed (``seed + index``) so sampled outputs do not depend on batching.
        """
        from fastprune.engines import GenerationRequest, SamplingParams

        max_new_tokens = max(1, min(max_new_tokens, self.max_seq_len - 1))
        room = self.max_seq_len - max_new_tokens
        requests, truncated = [], []
        for i, ids in enumerate(prompts):
            truncated.append(len(ids) > room)
            sampling = SamplingParams(
                max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p,
                seed=seed + i, stop_strings=tuple(stop_strings),
            )
            requests.append(GenerationRequest(prompt_ids=list(ids[-room:]), sampling=sampling, id=str(i)))
        results = self._get_engine().generate(requests, progress=self.progress)
        return [
            Generation(r.text, list(r.token_ids), r.finish_reason, r.num_tokens, t)
            for r, t in zip(results, truncated, strict=True)
        ]

    # ---- scoring ----------------------------------------------------------------------------
    def _forward(self, rows: list[list[int]]) -> torch.Tensor:
        """Logits [B, L, V] of right-padded rows."""
        device = self.loaded.device
        ids, mask = pad_batch(rows, self.pad_id)
        with torch.inference_mode():
            out = self.model(input_ids=ids.to(device), attention_mask=mask.to(device), use_cache=False)
        return out.logits

    def _bar(self, total: int, desc: str):
        return tqdm(total=total, desc=desc, disable=not self.progress, file=sys.stderr, leave=False)

    def loglikelihood(self, pairs: Sequence[tuple[list[int], list[int]]]) -> list[tuple[float, bool]]:
        """(sum of log p(continuation | context), whether greedy decoding would produce it) per pair.

        Longest rows are batched together (less padding); a context too long for the window loses its
        start, the continuation is always scored whole.
        """
        items = []
        for ctx, cont in pairs:
            if not cont:
                raise ValueError("empty continuation: nothing to score")
            if not ctx:  # the first token needs something to be predicted from
                bos = self.tokenizer.bos_token_id
                ctx = [bos if bos is not None else self.pad_id]
            full = (list(ctx) + list(cont))[-(self.max_seq_len + 1) :]
            items.append((full[:-1], full[1:], min(len(cont), len(full) - 1)))
        order = sorted(range(len(items)), key=lambda j: -len(items[j][0]))
        out: list[tuple[float, bool]] = [(0.0, False)] * len(items)
        with self._bar(len(items), "loglik") as bar:
            for batch in _chunks(order, self.batch_size):
                logits = self._forward([items[j][0] for j in batch])
                for b, j in enumerate(batch):
                    inp, tgt, n = items[j]
                    rows = logits[b, len(inp) - n : len(inp)].float().log_softmax(-1)
                    target = torch.tensor(tgt[-n:], device=rows.device)
                    logp = rows.gather(-1, target[:, None]).sum().item()
                    greedy = bool((rows.argmax(-1) == target).all())
                    out[j] = (logp, greedy)
                bar.update(len(batch))
        return out

    def next_token_logprobs(self, prompts: Sequence[list[int]]) -> torch.Tensor:
        """Log-probabilities [N, V] (fp32, CPU) of the token after each prompt's last real token."""
        order = sorted(range(len(prompts)), key=lambda j: -len(prompts[j]))
        rows: list[torch.Tensor | None] = [None] * len(prompts)
        for batch in _chunks(order, self.batch_size):
            trimmed = [list(prompts[j])[-self.max_seq_len :] for j in batch]
            logits = self._forward(trimmed)
            for b, j in enumerate(batch):
                rows[j] = logits[b, len(trimmed[b]) - 1].float().log_softmax(-1).cpu()
        return torch.stack(rows) if rows else torch.empty(0)
