"""Prefill latency and decode throughput of one model at one (batch, prompt length, new tokens) point.

Both the fastprune engine and HF ``generate`` are measured the same black-box way, so their numbers
compare: time to first token = a generation of one new token (prefill + one LM-head pass); decode step =
(time for N new tokens - time for 1) / (N - 1). Every sequence is forced to full length (EOS ignored).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from fastprune.bench.timing import summarize, time_call


@dataclass(frozen=True)
class BenchPoint:
    batch_size: int
    prompt_len: int
    new_tokens: int


def special_ids(tokenizer) -> set[int]:
    """The ids a timed random prompt must not contain (EOS, pad, BOS): one would end or reshape the run."""
    if tokenizer is None:
        return set()
    return {int(t) for t in (tokenizer.eos_token_id, tokenizer.pad_token_id, tokenizer.bos_token_id) if t is not None}


def random_ids(shape: tuple[int, ...], vocab_size: int, generator: torch.Generator, avoid: set[int]) -> torch.Tensor:
    """Token ids drawn uniformly from ``generator``, each id in ``avoid`` moved to its successor."""
    ids = torch.randint(0, vocab_size, shape, generator=generator)
    for token in avoid:
        ids[ids == token] = (token + 1) % vocab_size
    return ids


def random_prompts(point: BenchPoint, vocab_size: int, seed: int, avoid: set[int]) -> torch.Tensor:
    """``[batch, prompt_len]`` token ids drawn uniformly, skipping special ids (EOS, pad...)."""
    return random_ids((point.batch_size, point.prompt_len), vocab_size, torch.Generator().manual_seed(seed), avoid)


HF_VARIANTS = ("dynamic", "static", "compile")
HF_BACKEND = {"dynamic": "hf", "static": "hf-static", "compile": "hf-compile"}


def shared_weight_copy(model):
    """A structural copy of ``model`` whose parameters and buffers are the original tensors (no new memory).

    Pruning or compiling the copy leaves the original's layer list and ``forward`` as they were, so every
    variant of one checkpoint can stay loaded at once and be measured in interleaved order.
    """
    import copy
    import itertools

    memo = {id(t): t for t in itertools.chain(model.parameters(), model.buffers())}
    return copy.deepcopy(model, memo)


def hf_generate_fn(model, prompts: torch.Tensor, variant: str = "dynamic") -> Callable[[int], object]:
    """A callable running HF ``generate`` greedily for ``n`` new tokens on ``prompts``, EOS ignored.

    ``variant``: ``dynamic`` (HF's default cache), ``static`` (``cache_implementation="static"``) or
    ``compile`` (static cache and ``torch.compile`` of a weight-sharing copy's forward; the first calls
    compile, so warm up before timing).
    """
    if variant not in HF_VARIANTS:
        raise ValueError(f"unknown HF variant {variant!r}; allowed: {', '.join(HF_VARIANTS)}")
    if variant == "compile":
        model = shared_weight_copy(model)
        model.forward = torch.compile(model.forward, dynamic=False)
    device = next(model.parameters()).device
    ids = prompts.to(device)
    mask = torch.ones_like(ids)
    cache = {} if variant == "dynamic" else {"cache_implementation": "static"}

    def run(n: int):
        with torch.inference_mode():
            return model.generate(
                input_ids=ids, attention_mask=mask, max_new_tokens=n, min_new_tokens=n, do_sample=False,
                eos_token_id=None, pad_token_id=0, **cache,
            )

    return run


def engine_generate_fn(model, tokenizer, prompts: torch.Tensor, max_batch_size: int,
                       max_new_tokens: int = 2048) -> Callable[[int], object]:
    """A callable running the fastprune engine greedily for ``n`` new tokens on ``prompts``, EOS ignored."""
    from fastprune.engines import GenerationEngine, GenerationRequest, SamplingParams

    engine = GenerationEngine(
        model, tokenizer, max_batch_size=max_batch_size, max_seq_len=prompts.shape[1] + max_new_tokens + 1
    )

    def run(n: int):
        params = SamplingParams(max_new_tokens=n, ignore_eos=True)
        requests = [GenerationRequest(row.tolist(), params) for row in prompts]
        return engine.generate(requests)

    return run


def warm_up(run: Callable[[int], object], point: BenchPoint, device: torch.device, warmup: int = 1) -> float:
    """Seconds the ``warmup`` rounds took; each round runs both timed shapes (1 and ``new_tokens`` new tokens),
    so a static cache or a compiled graph is built for both before anything is timed."""
    return sum(time_call(lambda: run(1), device) + time_call(lambda: run(point.new_tokens), device)
               for _ in range(warmup))


def one_sample(run: Callable[[int], object], point: BenchPoint, device: torch.device) -> tuple[float, float]:
    """(time to first token, seconds for ``new_tokens``): one paired sample."""
    return time_call(lambda: run(1), device), time_call(lambda: run(point.new_tokens), device)


def decode_steps(ttft: list[float], total: list[float], point: BenchPoint) -> list[float]:
    """Seconds per decode step of each paired sample: (t_N - t_1) / (N - 1)."""
    steps = max(point.new_tokens - 1, 1)
    return [max(t - f, 1e-9) / steps for t, f in zip(total, ttft, strict=True)]


def summarize_point(ttft: list[float], total: list[float], point: BenchPoint) -> dict:
    """Prefill and decode-step timings (median, p10, p90, CV) from paired ``one_sample`` results."""
    from fastprune.bench.stats import coefficient_of_variation

    decode_step = decode_steps(ttft, total, point)
    prefill = {**summarize(ttft), "cv": coefficient_of_variation(ttft)}
    # t_N <= t_1 cannot be a real decode time: the run was disturbed; clamped above, counted here.
    nonpositive = sum(t <= f for t, f in zip(total, ttft, strict=True))
    step = {**summarize(decode_step), "cv": coefficient_of_variation(decode_step), "nonpositive": nonpositive}
    return {
        "prefill_s": prefill,
        "decode_step_s": step,
        "prefill_tokens_per_s": point.batch_size * point.prompt_len / prefill["median"],
        "decode_tokens_per_s": point.batch_size / step["median"],
        "samples": {"prefill_s": list(ttft), "decode_step_s": decode_step},
    }
