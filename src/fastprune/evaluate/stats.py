"""Intervals and paired tests for scores: how sure each number is, and whether two models really differ.

Three kinds of metric, by how a task's score is built from its items:

- ``proportion``: the mean of 0/1 items (accuracy, exact match). Interval: Wilson. Paired test: exact
  McNemar, i.e. a two-sided binomial test on the discordant items (base right / other wrong vs the reverse).
- ``mean``: the mean of real-valued items (ROUGE-L, pass@k estimates). Interval: bootstrap over items.
  Paired test: sign-flip permutation test on the per-item differences.
- ``ppl``: ``exp(sum(nll) / sum(tokens))`` over scoring windows. Interval: bootstrap over windows (a block
  bootstrap: tokens inside a window are not independent, windows nearly are). Paired test: sign-flip
  permutation of the per-window nll differences (both models score the same tokens).

Every interval is 95% (``CONFIDENCE``); every resampling is seeded so a report is reproducible.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
ALPHA = 1 - CONFIDENCE
N_RESAMPLES = 4000
KINDS = ("proportion", "mean", "ppl")
# Fewest discordant items with which an exact two-sided binomial test can reach p < 0.05 (2 * 0.5**6).
MIN_DISCORDANT = 6


def wilson_interval(successes: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    if n <= 0:
        return (math.nan, math.nan)
    ci = stats.binomtest(int(successes), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return (float(ci.low), float(ci.high))


def _ppl(nll, tokens, axis=-1):
    return np.exp(np.sum(nll, axis=axis) / np.sum(tokens, axis=axis))


def bootstrap_interval(samples: Sequence[Sequence[float]], statistic, confidence: float = CONFIDENCE,
                       seed: int = 0, n_resamples: int = N_RESAMPLES) -> tuple[float, float]:
    """Percentile bootstrap of ``statistic(*samples, axis=-1)``, resampling items jointly (paired)."""
    arrays = [np.asarray(s, dtype=float) for s in samples]
    n = len(arrays[0])
    if n == 0:
        return (math.nan, math.nan)
    point = float(statistic(*arrays, axis=-1))
    if n == 1 or all(np.all(a == a[0]) for a in arrays):  # nothing to resample: the value is the interval
        return (point, point)
    with warnings.catch_warnings():  # degenerate resamples (e.g. a ratio over a zero base) come back as nan
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        res = stats.bootstrap(tuple(arrays), statistic, paired=True, vectorized=True, confidence_level=confidence,
                              n_resamples=n_resamples, method="percentile", rng=np.random.default_rng(seed))
    return (float(res.confidence_interval.low), float(res.confidence_interval.high))


def value_of(kind: str, values: Sequence[float], weights: Sequence[float] | None = None) -> float:
    v = np.asarray(values, dtype=float)
    if not len(v):
        return math.nan
    if kind == "ppl":
        return float(_ppl(v, np.asarray(weights, dtype=float)))
    return float(v.mean())


def interval(kind: str, values: Sequence[float], weights: Sequence[float] | None = None,
             seed: int = 0) -> tuple[tuple[float, float], str]:
    """The 95% interval of a metric from its items, and the method's name."""
    if kind == "proportion":
        return wilson_interval(int(round(sum(values))), len(values)), "wilson"
    if kind == "mean":
        return bootstrap_interval([values], np.mean, seed=seed), "bootstrap over items"
    if kind == "ppl":
        return bootstrap_interval([values, weights], _ppl, seed=seed), "bootstrap over windows"
    raise ValueError(f"unknown metric kind {kind!r}; known: {', '.join(KINDS)}")


def mcnemar_exact(base: Sequence[bool], other: Sequence[bool]) -> tuple[int, int, float]:
    """(items only base got right, items only other got right, two-sided exact McNemar p-value)."""
    a, b = np.asarray(base, dtype=bool), np.asarray(other, dtype=bool)
    lost, gained = int(np.sum(a & ~b)), int(np.sum(~a & b))
    if lost + gained == 0:
        return lost, gained, 1.0
    return lost, gained, float(stats.binomtest(lost, lost + gained, 0.5).pvalue)


def permutation_p(diffs: Sequence[float], seed: int = 0, n_resamples: int = 9999) -> float:
    """Two-sided sign-flip permutation p-value of the mean of paired differences being 0."""
    d = np.asarray(diffs, dtype=float)
    if not len(d) or np.all(d == 0):
        return 1.0

    def mean_diff(x, axis=-1):
        return np.mean(x, axis=axis)

    res = stats.permutation_test((d,), mean_diff, permutation_type="samples", vectorized=True,
                                 n_resamples=n_resamples, alternative="two-sided", rng=np.random.default_rng(seed))
    return float(res.pvalue)


def min_resolvable_binary(discordant: int, n: int, alpha: float = ALPHA) -> float:
    """Smallest accuracy difference exact McNemar calls significant at this n and discordance.

    With ``d`` discordant items (at least ``MIN_DISCORDANT``, the fewest with which any exact test can
    succeed), the smallest ``m = |lost - gained|`` of the parity of ``d`` whose binomial p-value is below
    ``alpha``; the difference is ``m / n``. It grows like ``2 * sqrt(d) / n``: more disagreement between
    the models needs a larger net difference before it stands out from the noise.
    """
    if n <= 0:
        return math.nan
    d = max(int(discordant), MIN_DISCORDANT)
    for m in range(d % 2, d + 1, 2):
        if stats.binomtest((d + m) // 2, d, 0.5).pvalue < alpha:
            return m / n
    return math.nan  # unreachable for d >= MIN_DISCORDANT


def min_resolvable_normal(diffs: Sequence[float], alpha: float = ALPHA) -> float:
    """``z_(1-alpha/2) * sd(d) / sqrt(n)``: the normal-approximation threshold for a paired mean difference."""
    d = np.asarray(diffs, dtype=float)
    if len(d) < 2:
        return math.nan
    return float(stats.norm.ppf(1 - alpha / 2) * d.std(ddof=1) / math.sqrt(len(d)))


@dataclass(frozen=True)
class PairedComparison:
    """``other`` against ``base`` on the same ``n`` items; ``retention`` as the report defines it."""

    n: int
    base: float
    other: float
    difference: float  # other - base
    difference_ci: tuple[float, float]
    retention: float  # other/base (higher is better) or base/other (lower is better, e.g. ppl)
    retention_ci: tuple[float, float]
    p_value: float
    test: str
    min_resolvable: float  # smallest |difference| this n (and discordance) could resolve at 95%
    lost: int | None = None  # proportions: items only base got right
    gained: int | None = None  # proportions: items only other got right

    @property
    def resolved(self) -> bool:
        return self.p_value < ALPHA

    def as_dict(self) -> dict:
        return {"n": self.n, "base": self.base, "other": self.other, "difference": self.difference,
                "difference_ci95": list(self.difference_ci), "retention": self.retention,
                "retention_ci95": list(self.retention_ci), "p_value": self.p_value, "test": self.test,
                "resolved": self.resolved, "min_resolvable_difference": self.min_resolvable,
                "lost": self.lost, "gained": self.gained}


def _ratio(a, b, axis=-1):
    # a resample in which the base scores 0 has no finite ratio; counting it as unbounded (rather than
    # nan, which would void the whole interval) keeps the lower end and makes the upper end honest
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.mean(b, axis=axis) / np.mean(a, axis=axis)
    return np.where(np.isnan(r), np.inf, r)


def _mean_diff(a, b, axis=-1):
    return np.mean(b, axis=axis) - np.mean(a, axis=axis)


def _ppl_diff(na, nb, t, axis=-1):
    return _ppl(nb, t, axis) - _ppl(na, t, axis)


def _ppl_keep(na, nb, t, axis=-1):
    return _ppl(na, t, axis) / _ppl(nb, t, axis)


def compare_paired(kind: str, base: Sequence[float], other: Sequence[float],
                   weights: Sequence[float] | None = None, higher_is_better: bool = True,
                   seed: int = 0) -> PairedComparison:
    """Paired comparison of two models' items (same items, same order); ``weights``: ppl token counts."""
    a, b = np.asarray(base, dtype=float), np.asarray(other, dtype=float)
    if a.shape != b.shape or not len(a):
        raise ValueError(f"paired comparison needs the same non-empty items; got {len(a)} and {len(b)}")
    lost = gained = None
    if kind == "ppl":
        t = np.asarray(weights, dtype=float)
        va, vb = value_of(kind, a, t), value_of(kind, b, t)
        diff_ci = bootstrap_interval([a, b, t], _ppl_diff, seed=seed)
        keep_ci = bootstrap_interval([a, b, t], _ppl_keep, seed=seed)
        p, test = permutation_p(b - a, seed=seed), "sign-flip permutation over windows"
        mdd = (diff_ci[1] - diff_ci[0]) / 2
    else:
        va, vb = float(a.mean()), float(b.mean())
        diff_ci = bootstrap_interval([a, b], _mean_diff, seed=seed)
        keep_ci = bootstrap_interval([a, b], _ratio, seed=seed) if va else (math.nan, math.nan)
        if kind == "proportion":
            lost, gained, p = mcnemar_exact(a > 0.5, b > 0.5)
            test, mdd = "exact McNemar", min_resolvable_binary(lost + gained, len(a))
        elif kind == "mean":
            p, test = permutation_p(b - a, seed=seed), "sign-flip permutation"
            mdd = min_resolvable_normal(b - a)
        else:
            raise ValueError(f"unknown metric kind {kind!r}; known: {', '.join(KINDS)}")
    if kind == "ppl":  # lower is better: the share kept is base / other
        keep = va / vb if vb else math.nan
    elif higher_is_better:
        keep = vb / va if va else math.nan
    else:
        keep = va / vb if vb else math.nan
        keep_ci = bootstrap_interval([b, a], _ratio, seed=seed) if vb else (math.nan, math.nan)
    return PairedComparison(len(a), va, vb, vb - va, diff_ci, keep, keep_ci, p, test, mdd, lost, gained)


def mcnemar_sample_size(delta: float, discordant: float, alpha: float = ALPHA, power: float = 0.8) -> int:
    """Items needed for a paired accuracy loss ``delta`` to be resolved by McNemar at level ``alpha``.

    Connor's (1987) normal approximation, ``n = (z_(1-a/2) sqrt(psi) + z_power sqrt(psi - delta^2))^2 /
    delta^2``, where ``psi`` (``discordant``) is the share of items on which the two models disagree. The
    test is exact McNemar in practice; ``mcnemar_power`` gives its exact power at the n this returns.
    """
    if not 0 < abs(delta) <= discordant <= 1:
        raise ValueError(f"need 0 < |delta| <= discordant <= 1, got delta={delta}, discordant={discordant}")
    za, zb = stats.norm.ppf(1 - alpha / 2), stats.norm.ppf(power)
    n = (za * math.sqrt(discordant) + zb * math.sqrt(discordant - delta**2)) ** 2 / delta**2
    return math.ceil(n - 1e-9)


def mcnemar_power(n: int, delta: float, discordant: float, alpha: float = ALPHA) -> float:
    """Exact power of the two-sided exact McNemar test: the number of discordant items is binomial
    (n, psi), and each discordant item is a loss with probability (psi + delta) / (2 psi)."""
    d = np.arange(n + 1)
    # largest k with a two-sided binomial p-value below alpha (-1: none), per discordant count
    k_lo = np.array([_lower_critical(int(x), alpha) for x in d])
    q = (discordant + abs(delta)) / (2 * discordant)
    reject = stats.binom.cdf(k_lo, d, q) + stats.binom.sf(d - k_lo - 1, d, q)
    reject = np.where(k_lo >= 0, reject, 0.0)
    return float(np.sum(stats.binom.pmf(d, n, discordant) * reject))


def _lower_critical(d: int, alpha: float) -> int:
    if d == 0:
        return -1
    k = int(stats.binom.ppf(alpha / 2, d, 0.5))
    while k >= 0 and 2 * stats.binom.cdf(k, d, 0.5) >= alpha:
        k -= 1
    while 2 * stats.binom.cdf(k + 1, d, 0.5) < alpha:
        k += 1
    return k


def required_items(delta: float, discordant: float, alpha: float = ALPHA, power: float = 0.8) -> int:
    """The smallest n (from Connor's estimate upward) at which exact McNemar reaches ``power``: the exact
    test is conservative, so the normal approximation alone falls a few points short."""
    n = mcnemar_sample_size(delta, discordant, alpha, power)
    while mcnemar_power(n, delta, discordant, alpha) < power:
        n += max(1, n // 200)
    return n
