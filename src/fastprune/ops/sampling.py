"""Fused sampling: greedy / temperature / top-k / top-p in one op, with per-request reproducible noise.

``sample(logits [B, V], temperature [B], top_k [B], top_p [B], ...) -> ids [B]``.

Semantics (shared by the torch reference, the Triton kernel and the native CPU kernel, so they can be tested
against each other):

- rows with ``temperature <= 0`` take the argmax of the logits (first index on ties);
- otherwise ``p = softmax(logits / temperature)`` in fp32;
- top-k keeps every token whose probability is >= the k-th largest one (ties at the boundary are kept;
  ``top_k <= 0`` or ``>= V`` disables it);
- top-p then keeps every token whose probability is >= the smallest probability of the shortest
  highest-first prefix whose mass reaches ``top_p`` of the mass left by top-k (``top_p >= 1`` disables it);
- the token is drawn by inverse CDF in vocabulary order: the first index whose running sum of kept
  probabilities exceeds ``u * total_kept``, with one uniform ``u`` per row.

One uniform per row (not one per vocabulary entry) is what makes per-request seeds cheap: a request's noise
at its n-th token is a hash of (seed, n), so it does not depend on which other requests share the batch.
"""

from __future__ import annotations

import torch

from fastprune.errors import FastpruneError

from ._sampling_ops import sample_cpu, sample_triton
from .availability import BackendUnavailableError
from .plan import Choice, OpPlan, choose

_MASK64 = (1 << 64) - 1


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def uniform_from_seeds(seeds, offsets, device: torch.device | str = "cpu") -> torch.Tensor:
    """One uniform in [0, 1) per row from ``(seed, offset)``: a pure function, identical on every device.

    ``offset`` is the index of the token being drawn within its request. Computed on the host with exact
    64-bit integer arithmetic (a few rows per step, so cost is negligible), then copied to ``device``.
    """
    seeds = seeds.tolist() if isinstance(seeds, torch.Tensor) else list(seeds)
    offsets = offsets.tolist() if isinstance(offsets, torch.Tensor) else list(offsets)
    if len(seeds) != len(offsets):
        raise FastpruneError(f"uniform_from_seeds: {len(seeds)} seeds but {len(offsets)} offsets")
    # 24 random bits give floats exactly representable in fp32 and strictly below 1.
    vals = [(_splitmix64(_splitmix64(int(s) & _MASK64) ^ (int(o) & _MASK64)) >> 40) / float(1 << 24)
            for s, o in zip(seeds, offsets, strict=True)]
    return torch.tensor(vals, dtype=torch.float32, device=device)


def _check(logits, temperature, top_k, top_p, uniform):
    if logits.dim() != 2:
        raise FastpruneError(f"sample: logits must be [batch, vocab], got shape {tuple(logits.shape)}")
    b = logits.shape[0]
    for name, t in (("temperature", temperature), ("top_k", top_k), ("top_p", top_p), ("uniform", uniform)):
        if t.shape != (b,):
            raise FastpruneError(f"sample: {name} must have shape [{b}], got {tuple(t.shape)}")


def _probs(logits: torch.Tensor, temperature: torch.Tensor) -> torch.Tensor:
    greedy = temperature <= 0
    temp = torch.where(greedy, torch.ones_like(temperature, dtype=torch.float32), temperature.float())
    return torch.softmax(logits.float() / temp[:, None], dim=-1)


def _effective_k(top_k: torch.Tensor, v: int) -> torch.Tensor:
    return torch.where((top_k <= 0) | (top_k >= v), torch.full_like(top_k, v), top_k).long()


def _kept_mass(probs: torch.Tensor, kth: torch.Tensor) -> torch.Tensor:
    # Summed in vocabulary order (not sorted order) so both filters below get bit-identical targets.
    return probs.masked_fill(probs < kth[:, None], 0.0).sum(-1)


def _top_p_count(sorted_prefix: torch.Tensor, kth: torch.Tensor, top_p: torch.Tensor, total: torch.Tensor):
    """How many of the largest kept probabilities stay below ``top_p`` of the kept mass (index of the last)."""
    cum = sorted_prefix.masked_fill(sorted_prefix < kth[:, None], 0.0).cumsum(-1)
    return (cum < (top_p.float() * total)[:, None]).sum(-1)


def _apply(logits, temperature, probs, thr):
    kept = probs.masked_fill(probs < thr[:, None], 0.0)
    greedy = temperature <= 0
    if bool(greedy.any()):
        onehot = torch.zeros_like(kept).scatter_(-1, logits.argmax(-1, keepdim=True), 1.0)
        kept = torch.where(greedy[:, None], onehot, kept)
    return kept


def filtered_probs_ref(logits: torch.Tensor, temperature: torch.Tensor, top_k: torch.Tensor,
                       top_p: torch.Tensor) -> torch.Tensor:
    """The kept (unnormalised) probabilities [B, V] fp32 that sampling draws from; zeros are filtered out.

    Greedy rows (``temperature <= 0``) get a one-hot at their argmax. This is the oracle: a full sort per row.
    Keeping ``p >= kth`` and ``p >= top-p threshold`` is keeping ``p >= max(kth, threshold)``.
    """
    probs = _probs(logits, temperature)
    v = probs.shape[-1]
    sorted_p = probs.sort(dim=-1, descending=True).values
    kth = sorted_p.gather(-1, (_effective_k(top_k, v) - 1)[:, None])[:, 0]
    thr = kth
    use_p = top_p < 1.0
    if bool(use_p.any()):
        m = _top_p_count(sorted_p, kth, top_p, _kept_mass(probs, kth)).clamp(max=v - 1)
        thr = torch.where(use_p, torch.maximum(kth, sorted_p.gather(-1, m[:, None])[:, 0]), kth)
    return _apply(logits, temperature, probs, thr)


_CANDIDATES = 1024


def filtered_probs_fast(logits: torch.Tensor, temperature: torch.Tensor, top_k: torch.Tensor,
                        top_p: torch.Tensor) -> torch.Tensor:
    """``filtered_probs_ref`` without sorting the whole vocabulary: identical output.

    Both thresholds almost always fall among the few largest probabilities, so a ``topk`` of 1024
    candidates (sorted, hence the same values in the same order as the full sort's prefix) decides them.
    The final mask compares the whole row against the thresholds, so ties past the candidates are kept as
    in the reference. A row whose top-k or top-p boundary lies beyond the candidates is recomputed by the
    full sort.
    """
    probs = _probs(logits, temperature)
    v = probs.shape[-1]
    if v <= _CANDIDATES:
        return filtered_probs_ref(logits, temperature, top_k, top_p)
    k = _effective_k(top_k, v)
    vals = probs.topk(_CANDIDATES, dim=-1).values
    k_on = k < v
    inside = ~k_on | (k <= _CANDIDATES)
    # With top-k off the reference's kth is the row minimum; 0 masks the same (no) entries.
    kth = torch.where(k_on, vals.gather(-1, (k.clamp(max=_CANDIDATES) - 1)[:, None])[:, 0], 0.0)
    thr = kth
    use_p = top_p < 1.0
    if bool(use_p.any()):
        m = _top_p_count(vals, kth, top_p, _kept_mass(probs, kth))
        inside &= ~use_p | (m < _CANDIDATES)
        thr = torch.where(use_p, torch.maximum(kth, vals.gather(-1, m.clamp(max=_CANDIDATES - 1)[:, None])[:, 0]),
                          kth)
    out = _apply(logits, temperature, probs, thr)
    if not bool(inside.all()):
        rows = (~inside).nonzero()[:, 0]
        out[rows] = filtered_probs_ref(logits[rows], temperature[rows], top_k[rows], top_p[rows])
    return out


def _draw(logits, temperature, kept, uniform):
    cum = kept.cumsum(-1)
    target = uniform.float() * cum[:, -1]
    idx = (cum <= target[:, None]).sum(-1)
    # Rounding can put the target at or past the last running sum; fall back to the last kept token.
    v = kept.shape[-1]
    last_kept = (v - 1) - (kept.flip(-1) > 0).to(torch.int8).argmax(-1)
    idx = torch.minimum(idx, last_kept)
    return torch.where(temperature <= 0, logits.argmax(-1), idx)


def sample_ref(logits: torch.Tensor, temperature: torch.Tensor, top_k: torch.Tensor, top_p: torch.Tensor,
               uniform: torch.Tensor) -> torch.Tensor:
    """Torch reference of ``sample`` (see the module docstring); returns int64 ids [B]."""
    _check(logits, temperature, top_k, top_p, uniform)
    return _draw(logits, temperature, filtered_probs_ref(logits, temperature, top_k, top_p), uniform)


def _choice(device: torch.device | str, backend: str | None) -> Choice:
    try:
        return choose("sample", device, backend, implemented=("torch", "triton", "native"))
    except (BackendUnavailableError, ValueError) as exc:
        raise FastpruneError(f"{exc}; use FASTPRUNE_BACKEND=torch (or auto)") from exc


def sample_native(logits: torch.Tensor, temperature: torch.Tensor, top_k: torch.Tensor, top_p: torch.Tensor,
                  uniform: torch.Tensor, return_probs: bool = False):
    """The native CPU kernel (csrc/cpu/sampling_isa.cpp): ids [B], and the kept probabilities with
    ``return_probs``. Same semantics as the reference; probabilities agree to float32 rounding (its exp is
    a polynomial that flushes results below ~1e-38 to zero), so a draw can differ only where the noise
    falls within rounding of a boundary. Its top-p running mass is summed in float64, so at large
    vocabularies it can keep a few near-threshold tokens that the reference's float32 cumsum (which drifts
    by ~1e-4 of the mass over 50k tokens) drops, or the reverse."""
    if logits.device.type != "cpu":
        raise FastpruneError(f"sample: the native kernel is CPU-only, logits are on {logits.device}")
    out, kept = sample_cpu(logits, temperature, top_k, top_p, uniform, return_probs)
    return (out, kept) if return_probs else out


def _noise(logits, uniform, seeds, offsets, generator) -> torch.Tensor:
    if uniform is not None:
        return uniform
    b = logits.shape[0]
    if seeds is not None:
        return uniform_from_seeds(seeds, offsets if offsets is not None else [0] * b, logits.device)
    return torch.rand(b, generator=generator, device=logits.device if generator is None
                      else generator.device).to(logits.device)


class SamplePlan(OpPlan):
    """``sample`` with its backend chosen: ``plan(logits, temperature, top_k, top_p, uniform=None, *, seeds=None,
    offsets=None, generator=None)``. Shapes are still checked per call (four comparisons)."""

    def __call__(self, logits: torch.Tensor, temperature: torch.Tensor, top_k: torch.Tensor, top_p: torch.Tensor,
                 uniform: torch.Tensor | None = None, *, seeds=None, offsets=None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        uniform = _noise(logits, uniform, seeds, offsets, generator)
        _check(logits, temperature, top_k, top_p, uniform)
        if self.backend == "native":
            return sample_native(logits, temperature, top_k, top_p, uniform)
        if self.backend == "triton":
            return sample_triton(logits, temperature, top_k, top_p, uniform, False)[0]
        # The torch backend: the reference's maths. On a GPU the candidate-set filter (identical ids) avoids a
        # full sort; on a CPU torch's topk of 1024 measured slower than the sort itself (5.3 vs 4.2 ms at
        # 1 x 49152, benchmarks/test_bench_ops.py), so the CPU keeps the sort.
        filt = filtered_probs_fast if logits.device.type == "cuda" else filtered_probs_ref
        return _draw(logits, temperature, filt(logits, temperature, top_k, top_p), uniform)


def sample_plan(device: torch.device | str, backend: str | None = None) -> SamplePlan:
    """The plan for sampling logits on ``device``; an unusable explicit backend is a FastpruneError now."""
    return SamplePlan(_choice(device, backend))


def sample(logits: torch.Tensor, temperature: torch.Tensor, top_k: torch.Tensor, top_p: torch.Tensor,
           uniform: torch.Tensor | None = None, *, seeds=None, offsets=None,
           generator: torch.Generator | None = None, backend: str | None = None) -> torch.Tensor:
    """Draw one token id per row of ``logits [B, V]``; returns int64 ids [B] on the logits' device.

    The noise is ``uniform [B]`` if given, else derived from per-row ``seeds``/``offsets`` (reproducible per
    request), else drawn from ``generator`` (or torch's global generator). ``backend``: torch, triton, native
    or None (``FASTPRUNE_BACKEND``, default auto: Triton for CUDA tensors, the native kernel on a CPU when
    it is built, torch otherwise). A loop that samples every step builds :func:`sample_plan` once instead.
    """
    return sample_plan(logits.device, backend)(logits, temperature, top_k, top_p, uniform, seeds=seeds,
                                               offsets=offsets, generator=generator)
