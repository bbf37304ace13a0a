"""Serving-benchmark arithmetic: per-request timings -> TTFT, TPOT, throughput, speedups, with 95% intervals.

One point is ``n`` requests sent by ``concurrency`` closed-loop clients (each sends its next request when
the last one finishes). Per-request metrics (TTFT, TPOT, latency) get percentile-bootstrap intervals of the
median over requests. Throughput is reported twice: measured (tokens / wall time of the point; one number,
no interval) and by Little's law for a closed loop, ``concurrency * mean(tokens) / mean(latency)``,
whose interval comes from resampling requests. Speedups are ratios of independent samples (base and
pruned requests), bootstrapped two-sample; an interval that holds 1 is said to be unresolved.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats

RESAMPLES = 2000
LEVEL = 0.95


def _ci(data: tuple, statistic, seed: int, paired: bool = False) -> list[float] | None:
    if min(len(d) for d in data) < 2:
        return None
    res = stats.bootstrap(data, statistic, n_resamples=RESAMPLES, confidence_level=LEVEL, method="percentile",
                          paired=paired, vectorized=True, random_state=np.random.default_rng(seed))
    lo, hi = res.confidence_interval
    return [float(lo), float(hi)]


def _median(x, axis=-1):
    return np.median(x, axis=axis)


def median_with_ci(values: Sequence[float], seed: int = 0) -> dict:
    x = np.asarray(values, dtype=float)
    return {"median": float(np.median(x)), "ci95": _ci((x,), _median, seed), "n": int(x.size)}


def little_throughput(tokens: Sequence[float], latency: Sequence[float], concurrency: int, seed: int = 0) -> dict:
    """``concurrency * mean(tokens) / mean(latency)`` (per second) with a paired bootstrap interval."""
    t, lat = np.asarray(tokens, dtype=float), np.asarray(latency, dtype=float)

    def stat(a, b, axis=-1):
        return concurrency * np.mean(a, axis=axis) / np.mean(b, axis=axis)

    return {"value": float(stat(t, lat)), "ci95": _ci((t, lat), stat, seed, paired=True), "n": int(t.size)}


def summarize_point(timings: list, wall_seconds: float, concurrency: int, seed: int = 0) -> dict:
    """``timings``: ``StreamTiming``-like objects (ttft, tpot, latency, output_tokens)."""
    ttft = [t.ttft for t in timings]
    tpot = [t.tpot for t in timings if t.tpot is not None]
    latency = [t.latency for t in timings]
    tokens = [t.output_tokens for t in timings]
    ones = [1.0] * len(timings)
    return {
        "concurrency": concurrency,
        "requests": len(timings),
        "wall_seconds": wall_seconds,
        "ttft_s": median_with_ci(ttft, seed),
        "tpot_s": median_with_ci(tpot, seed + 1) if tpot else None,
        "latency_s": median_with_ci(latency, seed + 2),
        "output_tokens": int(sum(tokens)),
        "output_tok_s_measured": sum(tokens) / wall_seconds if wall_seconds > 0 else None,
        "request_s_measured": len(timings) / wall_seconds if wall_seconds > 0 else None,
        "output_tok_s": little_throughput(tokens, latency, concurrency, seed + 3),
        "request_s": little_throughput(ones, latency, concurrency, seed + 4),
    }


def ratio_with_ci(base: Sequence[float], other: Sequence[float], kind: str, seed: int = 0) -> dict:
    """Speedup of ``other`` over ``base``. ``kind="time"``: median(base) / median(other) (lower is
    better, e.g. TPOT); ``kind="rate"``: mean(other) / mean(base) of per-request rates."""
    a, b = np.asarray(base, dtype=float), np.asarray(other, dtype=float)
    if kind == "time":
        def stat(x, y, axis=-1):
            return np.median(x, axis=axis) / np.median(y, axis=axis)
    elif kind == "rate":
        def stat(x, y, axis=-1):
            return np.mean(y, axis=axis) / np.mean(x, axis=axis)
    else:
        raise ValueError(f"kind must be 'time' or 'rate', got {kind!r}")
    ci = _ci((a, b), stat, seed)
    out = {"value": float(stat(a, b)), "ci95": ci, "n_base": int(a.size), "n": int(b.size)}
    out["resolved"] = ci is not None and not (ci[0] <= 1.0 <= ci[1])
    return out


def speedups(base: list, other: list, seed: int = 0) -> dict:
    """TPOT, TTFT and per-request output-rate speedups of ``other``'s requests over ``base``'s."""
    def rate(t):
        return t.output_tokens / t.latency

    return {
        "tpot": ratio_with_ci([t.tpot for t in base if t.tpot], [t.tpot for t in other if t.tpot], "time", seed),
        "ttft": ratio_with_ci([t.ttft for t in base], [t.ttft for t in other], "time", seed + 1),
        "output_rate": ratio_with_ci([rate(t) for t in base], [rate(t) for t in other], "rate", seed + 2),
    }


def describe(speedup: dict, ideal_layers: float, ideal_bytes: float) -> str:
    """One sentence a reader can act on."""
    ci = speedup["ci95"]
    if ci is None:
        return f"TPOT speedup {speedup['value']:.2f}x from too few requests for an interval"
    span = f"{speedup['value']:.2f}x (95% CI {ci[0]:.2f}-{ci[1]:.2f}, n={speedup['n_base']}+{speedup['n']})"
    if not speedup["resolved"]:
        return f"TPOT speedup {span}: not resolved, the interval holds 1 (no measurable difference)"
    share = (speedup["value"] - 1) / (ideal_bytes - 1) if ideal_bytes > 1 else float("nan")
    return (f"TPOT speedup {span}; ideal {ideal_bytes:.2f}x by bytes read, {ideal_layers:.2f}x by layers "
            f"({share:.0%} of the byte ideal's gain)")
