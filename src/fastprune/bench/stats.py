"""How sure a speed ratio is: bootstrap intervals over pooled repeats, and when to call a number unreliable.

A speedup is ``median(base seconds) / median(variant seconds)``. Its 95% interval is a percentile bootstrap
(``scipy.stats.bootstrap``) of that statistic. The suite interleaves variants inside every round, so sample
``i`` of each variant was taken at the same moment of the machine's drift; the samples are then resampled
as pairs (``paired=True``), which keeps that shared drift out of the ratio's spread. Unequal sample counts
(nothing interleaved) fall back to resampling each side on its own.

A ratio is flagged unreliable, with the reason in words, when its interval is wider than
``max_interval_width`` (relative to the ratio), when the samples of either side have a coefficient of
variation above ``max_cv``, or when the machine was busy (``fastprune.provenance.machine_noise``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

CONFIDENCE = 0.95
N_RESAMPLES = 4000
MAX_INTERVAL_WIDTH = 0.10  # (high - low) / ratio: +-5% around the ratio
MAX_CV = 0.10  # std / mean of one variant's samples


def ratio_of_medians(base: Sequence[float], other: Sequence[float]) -> float:
    """How many times faster ``other`` is than ``base`` when both are durations (seconds)."""
    return float(np.median(base) / np.median(other))


def _ratio_statistic(base, other, axis=-1):
    return np.median(base, axis=axis) / np.median(other, axis=axis)


def ratio_interval(base: Sequence[float], other: Sequence[float], confidence: float = CONFIDENCE,
                   n_resamples: int = N_RESAMPLES, seed: int = 0, paired: bool | None = None) -> dict:
    """``median(base) / median(other)`` with its bootstrap interval.

    ``paired`` defaults to True when both sides have the same number of samples (interleaved repeats).
    With fewer than 2 samples on a side no interval exists: ``low``/``high`` are None.
    """
    from scipy.stats import bootstrap

    base_a, other_a = np.asarray(base, dtype=float), np.asarray(other, dtype=float)
    if base_a.size == 0 or other_a.size == 0:
        raise ValueError("a ratio needs samples on both sides")
    if np.any(base_a <= 0) or np.any(other_a <= 0):
        raise ValueError("durations must be positive")
    if paired is None:
        paired = base_a.size == other_a.size
    value = ratio_of_medians(base_a, other_a)
    out = {"value": value, "low": None, "high": None, "n_base": int(base_a.size), "n": int(other_a.size),
           "confidence": confidence, "method": f"percentile bootstrap{', paired' if paired else ''}"}
    if base_a.size < 2 or other_a.size < 2:
        return out
    res = bootstrap((base_a, other_a), _ratio_statistic, paired=paired, vectorized=True,
                    confidence_level=confidence, n_resamples=n_resamples, method="percentile",
                    rng=np.random.default_rng(seed))
    out["low"], out["high"] = float(res.confidence_interval.low), float(res.confidence_interval.high)
    return out


def coefficient_of_variation(samples: Sequence[float]) -> float | None:
    """Sample standard deviation over the mean; None with fewer than 2 samples."""
    a = np.asarray(samples, dtype=float)
    if a.size < 2 or a.mean() == 0:
        return None
    return float(a.std(ddof=1) / a.mean())


def relative_width(interval: dict) -> float | None:
    if interval.get("low") is None or interval.get("high") is None:
        return None
    return (interval["high"] - interval["low"]) / interval["value"]


def ratio_verdict(interval: dict, cv_base: float | None, cv_other: float | None, noise_reasons: Sequence[str],
                  max_interval_width: float = MAX_INTERVAL_WIDTH, max_cv: float = MAX_CV) -> list[str]:
    """Why this ratio should not be trusted, in words; an empty list means nothing speaks against it."""
    reasons = list(noise_reasons)
    width = relative_width(interval)
    if width is None:
        reasons.append(f"no interval: only {min(interval['n_base'], interval['n'])} sample(s)")
    elif width > max_interval_width:
        reasons.append(f"95% interval {interval['low']:.3f}-{interval['high']:.3f} is {100 * width:.0f}% of "
                       f"the ratio wide (limit {100 * max_interval_width:.0f}%)")
    for side, cv in (("base", cv_base), ("this model", cv_other)):
        if cv is not None and cv > max_cv:
            reasons.append(f"{side}: CV {100 * cv:.0f}% of its samples (limit {100 * max_cv:.0f}%)")
    return reasons


def format_ratio(interval: dict | None, reliable: bool = True) -> str:
    """``1.234 [1.201, 1.270]`` (``!`` appended when flagged); ``-`` when there is no ratio."""
    if interval is None:
        return "-"
    text = f"{interval['value']:.3f}"
    if interval.get("low") is not None and interval.get("method") != "reference":
        text += f" [{interval['low']:.3f}, {interval['high']:.3f}]"
    return text + ("" if reliable else " !")
