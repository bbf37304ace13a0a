import numpy as np
import pytest

from fastprune.bench.stats import (
    coefficient_of_variation,
    format_ratio,
    ratio_interval,
    ratio_of_medians,
    ratio_verdict,
    relative_width,
)


def _brute_force(base, other, paired, resamples=20000, seed=1):
    """The percentile bootstrap written out: resample, take the ratio of medians, read the 2.5/97.5%."""
    rng = np.random.default_rng(seed)
    base, other = np.asarray(base), np.asarray(other)
    stats = np.empty(resamples)
    for i in range(resamples):
        a = rng.integers(0, base.size, base.size)
        b = a if paired else rng.integers(0, other.size, other.size)
        stats[i] = np.median(base[a]) / np.median(other[b])
    return np.percentile(stats, [2.5, 97.5])


def _timings(center, n, spread, seed):
    return list(center * (1 + spread * np.random.default_rng(seed).standard_normal(n)))


def test_known_ratio_points_the_right_way():
    # The variant takes half the time of the base: it is 2x faster, not 0.5x.
    base, fast = [0.020, 0.021, 0.019, 0.020], [0.010, 0.0105, 0.0095, 0.010]
    assert ratio_of_medians(base, fast) == pytest.approx(2.0)
    interval = ratio_interval(base, fast)
    assert interval["value"] == pytest.approx(2.0)
    assert interval["low"] <= 2.0 <= interval["high"]
    assert ratio_interval(fast, base)["value"] == pytest.approx(0.5)


@pytest.mark.parametrize("paired, n_other", [(True, 15), (False, 11)])
def test_interval_matches_a_brute_force_bootstrap(paired, n_other):
    base = _timings(0.030, 15, 0.05, seed=0)
    other = _timings(0.024, n_other, 0.05, seed=1)
    interval = ratio_interval(base, other, n_resamples=20000)
    assert interval["method"] == ("percentile bootstrap, paired" if paired else "percentile bootstrap")
    low, high = _brute_force(base, other, paired)
    assert interval["low"] == pytest.approx(low, rel=0.01)
    assert interval["high"] == pytest.approx(high, rel=0.01)
    assert interval["n_base"] == 15 and interval["n"] == n_other


def test_pairing_removes_shared_drift():
    # Both variants slow down together over the run (drift); pairing keeps that out of the ratio's spread.
    drift = np.linspace(1.0, 1.5, 12)
    base, other = list(0.030 * drift), list(0.020 * drift * (1 + 0.002 * np.sin(np.arange(12))))
    paired = relative_width(ratio_interval(base, other))
    unpaired = relative_width(ratio_interval(base, other, paired=False))
    assert paired < 0.01 < unpaired


def test_no_interval_from_one_sample_and_bad_input():
    interval = ratio_interval([0.02], [0.01])
    assert interval["value"] == pytest.approx(2.0) and interval["low"] is None
    assert relative_width(interval) is None
    assert "no interval: only 1 sample(s)" in ratio_verdict(interval, None, None, [])
    with pytest.raises(ValueError, match="positive"):
        ratio_interval([0.01, -0.01], [0.01, 0.01])
    with pytest.raises(ValueError, match="both sides"):
        ratio_interval([], [0.01])


def test_coefficient_of_variation():
    assert coefficient_of_variation([1.0, 1.0, 1.0]) == 0.0
    assert coefficient_of_variation([1.0, 3.0]) == pytest.approx(np.std([1, 3], ddof=1) / 2)
    assert coefficient_of_variation([1.0]) is None


def test_verdict_flags_exactly_past_each_threshold():
    interval = {"value": 1.0, "low": 0.9375, "high": 1.0625, "n_base": 9, "n": 9}  # 12.5% wide, exact in binary
    assert ratio_verdict(interval, 0.02, 0.02, [], max_interval_width=0.125, max_cv=0.10) == []
    wide = ratio_verdict(interval, 0.02, 0.02, [], max_interval_width=0.124)
    assert len(wide) == 1 and "12% of the ratio wide" in wide[0]
    assert ratio_verdict(interval, 0.02, 0.10, [], max_interval_width=0.2, max_cv=0.10) == []
    noisy = ratio_verdict(interval, 0.02, 0.11, [], max_interval_width=0.2, max_cv=0.10)
    assert noisy == ["this model: CV 11% of its samples (limit 10%)"]
    assert ratio_verdict(interval, 0.12, 0.02, [], max_interval_width=0.2)[0].startswith("base: CV 12%")
    assert ratio_verdict(interval, 0.0, 0.0, ["load 3"], max_interval_width=0.2) == ["load 3"]


def test_format_ratio():
    assert format_ratio({"value": 1.2345, "low": 1.2, "high": 1.3}) == "1.234 [1.200, 1.300]"
    assert format_ratio({"value": 1.2, "low": None, "high": None}, reliable=False) == "1.200 !"
    assert format_ratio(None) == "-"
