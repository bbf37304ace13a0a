"""Triton kernel for ``fastprune.ops.sample`` (semantics in ``fastprune.ops.sampling``).

One program per row, streaming the vocabulary in ``BLOCK`` columns:

1. max / argmax of the logits (the argmax is the greedy answer);
2. ``p = exp(x / T - max / T)`` written to a float32 scratch row, and its sum;
3. top-k threshold: the k-th largest probability, found exactly by bisection on the float32 bit pattern
   (for non-negative floats, integer order is value order), 31 counting passes, no sort;
4. top-p threshold: the same bisection on the mass kept above the threshold;
5. inverse CDF in vocabulary order with the row's uniform: the first index whose running sum exceeds
   ``u * kept_mass``.

Sorting a 150k vocabulary per row is what a sort-based kernel would pay; the bisection reads the scratch row
62 times instead, which on a GPU is a few microseconds per row and needs no shared-memory sort.

Decorated lazily (``_compiled``) because ``triton.jit`` fixes GPU-vs-interpreter mode at decoration time.
"""

from __future__ import annotations

import functools

import torch
import triton
import triton.language as tl

_ONE_BITS = 0x3F800000  # bit pattern of 1.0f: every probability's bits lie in [0, _ONE_BITS]
_MAX_BLOCK = 4096


def _sample_kernel(
    logits_ptr, temp_ptr, topk_ptr, topp_ptr, u_ptr, out_ptr, probs_ptr,
    V, stride_row,
    BLOCK: tl.constexpr, ONE_BITS: tl.constexpr,
):
    row = tl.program_id(0)
    src = logits_ptr + row.to(tl.int64) * stride_row
    scratch = probs_ptr + row.to(tl.int64) * V
    temp = tl.load(temp_ptr + row)
    greedy = temp <= 0.0
    temp = tl.where(greedy, 1.0, temp)
    top_k = tl.load(topk_ptr + row)
    top_p = tl.load(topp_ptr + row)
    u = tl.load(u_ptr + row)
    cols = tl.arange(0, BLOCK)

    # 1. max and first argmax of the raw logits.
    best = -float("inf")
    best_idx = 0
    for start in range(0, V, BLOCK):
        offs = start + cols
        x = tl.load(src + offs, mask=offs < V, other=-float("inf")).to(tl.float32)
        bmax = tl.max(x, axis=0)
        barg = tl.argmax(x, axis=0, tie_break_left=True)
        better = bmax > best
        best_idx = tl.where(better, start + barg, best_idx)
        best = tl.maximum(best, bmax)
    # Division (not a reciprocal multiply) rounds like the reference's logits / T; max(x)/T == max(x/T).
    scaled_max = best / temp

    # 2. probabilities into the scratch row.
    total = 0.0
    for start in range(0, V, BLOCK):
        offs = start + cols
        x = tl.load(src + offs, mask=offs < V, other=-float("inf")).to(tl.float32)
        e = tl.exp(x / temp - scaled_max)
        e = tl.where(offs < V, e, 0.0)
        tl.store(scratch + offs, e, mask=offs < V)
        total += tl.sum(e, axis=0)
    # Normalise in place so thresholds compare true probabilities, as the reference's softmax does.
    for start in range(0, V, BLOCK):
        offs = start + cols
        e = tl.load(scratch + offs, mask=offs < V, other=0.0)
        tl.store(scratch + offs, e / total, mask=offs < V)

    # 3. top-k: largest bit pattern t with count(bits(p) >= t) >= k.
    k_on = (top_k > 0) & (top_k < V)
    lo = 0
    hi = ONE_BITS + 1
    if k_on:
        for _ in range(31):
            mid = (lo + hi) // 2
            count = 0
            for start in range(0, V, BLOCK):
                offs = start + cols
                bits = tl.load(scratch + offs, mask=offs < V, other=-1.0).to(tl.int32, bitcast=True)
                count += tl.sum((bits >= mid).to(tl.int32), axis=0)
            ok = count >= top_k
            lo = tl.where(ok, mid, lo)
            hi = tl.where(ok, hi, mid)
    k_bits = lo

    # 4. top-p: largest t with mass(p >= max(t, kth)) >= top_p * mass(p >= kth).
    kept_mass = 0.0
    for start in range(0, V, BLOCK):
        offs = start + cols
        p = tl.load(scratch + offs, mask=offs < V, other=0.0)
        kept_mass += tl.sum(tl.where(p.to(tl.int32, bitcast=True) >= k_bits, p, 0.0), axis=0)
    lo = k_bits
    hi = ONE_BITS + 1
    if top_p < 1.0:
        target_mass = top_p * kept_mass
        for _ in range(31):
            mid = (lo + hi) // 2
            mass = 0.0
            for start in range(0, V, BLOCK):
                offs = start + cols
                p = tl.load(scratch + offs, mask=offs < V, other=0.0)
                mass += tl.sum(tl.where(p.to(tl.int32, bitcast=True) >= mid, p, 0.0), axis=0)
            ok = mass >= target_mass
            lo = tl.where(ok, mid, lo)
            hi = tl.where(ok, hi, mid)
    thr_bits = lo

    # 5. filter in place, then inverse CDF in vocabulary order.
    kept_total = 0.0
    last_kept = 0
    for start in range(0, V, BLOCK):
        offs = start + cols
        p = tl.load(scratch + offs, mask=offs < V, other=0.0)
        keep = (p.to(tl.int32, bitcast=True) >= thr_bits) & (offs < V)
        p = tl.where(keep, p, 0.0)
        tl.store(scratch + offs, p, mask=offs < V)
        kept_total += tl.sum(p, axis=0)
        last_kept = tl.maximum(last_kept, tl.max(tl.where(p > 0.0, offs, 0), axis=0))
    target = u * kept_total
    carry = 0.0
    pick = V
    for start in range(0, V, BLOCK):
        offs = start + cols
        p = tl.load(scratch + offs, mask=offs < V, other=0.0)
        run = carry + tl.cumsum(p, axis=0)
        pick = tl.minimum(pick, tl.min(tl.where((run > target) & (offs < V), offs, V), axis=0))
        carry += tl.sum(p, axis=0)
    pick = tl.minimum(pick, last_kept)

    if greedy:
        # Greedy rows report a one-hot "distribution" so the probabilities output has one meaning per row.
        for start in range(0, V, BLOCK):
            offs = start + cols
            tl.store(scratch + offs, tl.where(offs == best_idx, 1.0, 0.0), mask=offs < V)
    tl.store(out_ptr + row, tl.where(greedy, best_idx, pick).to(tl.int64))


@functools.cache
def _compiled(interpret: bool):
    # ``interpret`` only keys the cache: a process that flips TRITON_INTERPRET gets a fresh decoration.
    return triton.jit(_sample_kernel)


def sample_triton(logits: torch.Tensor, temperature: torch.Tensor, top_k: torch.Tensor, top_p: torch.Tensor,
                  uniform: torch.Tensor, return_probs: bool = False):
    """Launch the kernel; returns ids [B] (int64), and the kept probabilities [B, V] with ``return_probs``."""
    if logits.stride(-1) != 1:
        logits = logits.contiguous()
    b, v = logits.shape
    dev = logits.device
    out = torch.empty(b, dtype=torch.int64, device=dev)
    probs = torch.empty((b, v), dtype=torch.float32, device=dev)
    interp = bool(triton.knobs.runtime.interpret)
    block = min(triton.next_power_of_2(v), 128 if interp else _MAX_BLOCK)
    _compiled(interp)[(b,)](
        logits, temperature.to(device=dev, dtype=torch.float32).contiguous(),
        top_k.to(device=dev, dtype=torch.int32).contiguous(), top_p.to(device=dev, dtype=torch.float32).contiguous(),
        uniform.to(device=dev, dtype=torch.float32).contiguous(), out, probs, v, logits.stride(0),
        BLOCK=block, ONE_BITS=_ONE_BITS,
    )
    return (out, probs) if return_probs else out
