"""Prefill latency and decode throughput of one model at one (batch, prompt length, new tokens) point.

Both the fastprune engine and HF ``generate`` are measured the same black-box way, so their numbers
compare: time to first token = a generation of one new token (prefill + one LM-head pass); decode step =
(time for N new tokens - time for 1) / (N - 1). Every sequence is forced to full length (EOS ignored).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from fastprune.bench.timing import peak_memory, reset_peak_memory, summarize, time_call


@dataclass(frozen=True)
class BenchPoint:
    batch_size: int
    prompt_len: int
    new_tokens: int


def random_prompts(point: BenchPoint, vocab_size: int, seed: int, avoid: set[int]) -> torch.Tensor:
    """``[batch, prompt_len]`` token ids drawn uniformly, skipping special ids (EOS, pad...)."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab_size, (point.batch_size, point.prompt_len), generator=gen)
    for token in avoid:
        ids[ids == token] = (token + 1) % vocab_size
    return ids


def hf_generate_fn(model, prompts: torch.Tensor) -> Callable[[int], object]:
    """A callable running HF ``generate`` greedily for ``n`` new tokens on ``prompts``, EOS ignored."""
    device = next(model.parameters()).device
    ids = prompts.to(device)
    mask = torch.ones_like(ids)

    def run(n: int):
        with torch.inference_mode():
            return model.generate(
                input_ids=ids, attention_mask=mask, max_new_tokens=n, min_new_tokens=n, do_sample=False,
                eos_token_id=None, pad_token_id=0,
            )

    return run


def engine_generate_fn(model, tokenizer, prompts: torch.Tensor, max_batch_size: int) -> Callable[[int], object]:
    """A callable running the fastprune engine greedily for ``n`` new tokens on ``prompts``, EOS ignored."""
    from fastprune.generate import GenerationEngine, GenerationRequest, SamplingParams

    engine = GenerationEngine(
        model, tokenizer, max_batch_size=max_batch_size, max_seq_len=prompts.shape[1] + 2048
    )

    def run(n: int):
        params = SamplingParams(max_new_tokens=n, ignore_eos=True)
        requests = [GenerationRequest(row.tolist(), params) for row in prompts]
        return engine.generate(requests)

    return run


def measure_samples(run: Callable[[int], object], point: BenchPoint, device: torch.device, warmup: int = 1,
                    repeats: int = 3) -> tuple[list[float], list[float]]:
    """(time-to-first-token seconds, seconds for ``new_tokens``) of each repeat, after ``warmup`` runs."""
    for _ in range(warmup):
        run(min(point.new_tokens, 4))
    ttft, total = [], []
    for _ in range(repeats):
        ttft.append(time_call(lambda: run(1), device))
        total.append(time_call(lambda: run(point.new_tokens), device))
    return ttft, total


def summarize_point(ttft: list[float], total: list[float], point: BenchPoint) -> dict:
    """Prefill and decode-step timings (median, p10, p90) from paired samples of ``measure_samples``."""
    steps = max(point.new_tokens - 1, 1)
    decode_step = [max(t - f, 1e-9) / steps for t, f in zip(total, ttft, strict=True)]
    prefill = summarize(ttft)
    step = summarize(decode_step)
    return {
        "prefill_s": prefill,
        "decode_step_s": step,
        "prefill_tokens_per_s": point.batch_size * point.prompt_len / prefill["median"],
        "decode_tokens_per_s": point.batch_size / step["median"],
    }


def measure(run: Callable[[int], object], point: BenchPoint, device: torch.device, warmup: int = 1,
            repeats: int = 3) -> dict:
    """Prefill and decode timings (median, p10, p90) plus peak memory for one generator at ``point``."""
    reset_peak_memory(device)
    ttft, total = measure_samples(run, point, device, warmup, repeats)
    return {**summarize_point(ttft, total, point), **peak_memory(device)}
