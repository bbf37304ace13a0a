import math

import numpy as np
import pytest

from fastprune.evaluate import stats


def test_wilson_matches_textbook_8_of_10():
    # Wilson 95% interval for 8/10 (e.g. Newcombe 1998, Brown-Cai-DasGupta 2001): 0.4902 .. 0.9433
    low, high = stats.wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4)
    assert high == pytest.approx(0.9433, abs=1e-4)
    assert all(math.isnan(x) for x in stats.wilson_interval(0, 0))  # no items, no interval


def test_exact_mcnemar_on_a_table():
    # 10 items only base right, 2 only other right: p = 2 * P(X <= 2 | 12, 1/2) = 2 * 79 / 4096
    base = [1] * 10 + [0] * 2 + [1] * 5 + [0] * 3
    other = [0] * 10 + [1] * 2 + [1] * 5 + [0] * 3
    lost, gained, p = stats.mcnemar_exact(base, other)
    assert (lost, gained) == (10, 2)
    assert p == pytest.approx(158 / 4096)
    assert stats.mcnemar_exact([1, 0], [1, 0]) == (0, 0, 1.0)


def test_bootstrap_interval_matches_brute_force():
    rng = np.random.default_rng(1)
    values = rng.exponential(size=60)
    low, high = stats.bootstrap_interval([values], np.mean, seed=3, n_resamples=8000)
    idx = rng.integers(0, len(values), size=(20000, len(values)))
    brute = values[idx].mean(axis=1)
    assert low == pytest.approx(np.percentile(brute, 2.5), abs=0.03)
    assert high == pytest.approx(np.percentile(brute, 97.5), abs=0.03)
    assert stats.bootstrap_interval([[0.5] * 5], np.mean) == (0.5, 0.5)


def test_ppl_interval_is_a_block_bootstrap_over_windows():
    rng = np.random.default_rng(2)
    tokens = np.full(40, 100.0)
    nll = rng.normal(300, 30, size=40)
    (low, high), method = stats.interval("ppl", nll, tokens)
    point = stats.value_of("ppl", nll, tokens)
    assert method == "bootstrap over windows"
    assert low < point < high
    idx = rng.integers(0, 40, size=(20000, 40))
    brute = np.exp(nll[idx].sum(1) / tokens[idx].sum(1))
    assert low == pytest.approx(np.percentile(brute, 2.5), rel=0.01)
    assert high == pytest.approx(np.percentile(brute, 97.5), rel=0.01)


def test_min_resolvable_binary_follows_exact_mcnemar():
    # 8 discordant of 24: 7-1 gives p = 0.07, 8-0 gives p = 0.008 -> 8/24
    assert stats.min_resolvable_binary(8, 24) == pytest.approx(8 / 24)
    # too little discordance to ever reject: 6 one-way items are the minimum -> 6/24 = 0.25
    assert stats.min_resolvable_binary(0, 24) == pytest.approx(0.25)
    # it is a real threshold: the p-value just at it is < 0.05, one step below it is not
    d, n = 40, 200
    m = round(stats.min_resolvable_binary(d, n) * n)
    from scipy.stats import binomtest

    assert binomtest((d + m) // 2, d).pvalue < 0.05 <= binomtest((d + m - 2) // 2, d).pvalue


def test_compare_paired_proportion_resolves_a_large_loss_only():
    base = np.array([1] * 80 + [0] * 20)
    big_loss = base.copy()
    big_loss[:30] = 0
    c = stats.compare_paired("proportion", base, big_loss)
    assert c.lost == 30 and c.gained == 0 and c.resolved
    assert c.difference == pytest.approx(-0.3)
    assert c.retention == pytest.approx(50 / 80)
    assert c.retention_ci[0] < c.retention < c.retention_ci[1]
    small = base.copy()
    small[:3] = 0
    c = stats.compare_paired("proportion", base, small)
    assert not c.resolved and c.min_resolvable == pytest.approx(0.06)
    with pytest.raises(ValueError):
        stats.compare_paired("proportion", base, base[:5])


def test_compare_paired_mean_and_ppl():
    rng = np.random.default_rng(0)
    a = rng.uniform(size=200)
    c = stats.compare_paired("mean", a, a - 0.1 + rng.normal(0, 0.05, 200))
    assert c.resolved and c.difference_ci[1] < 0 and c.test == "sign-flip permutation"
    assert c.min_resolvable > 0
    same = stats.compare_paired("mean", a, a)
    assert same.p_value == 1.0 and not same.resolved
    tokens = np.full(30, 50.0)
    nll = rng.normal(150, 10, 30)
    worse = stats.compare_paired("ppl", nll, nll + 20, tokens, higher_is_better=False)
    assert worse.resolved and worse.difference > 0 and worse.retention < 1
    assert math.isclose(worse.retention, worse.base / worse.other)


def test_mcnemar_sample_size_and_exact_power():
    # Connor (1987): psi=0.2, delta=0.05, two-sided 5%, power 80% -> 626
    assert stats.mcnemar_sample_size(0.05, 0.20) == 626
    assert stats.mcnemar_sample_size(0.10, 0.30) == 234
    power = stats.mcnemar_power(626, 0.05, 0.20)
    assert 0.75 < power < 0.85
    assert stats.mcnemar_power(100, 0.05, 0.20) < 0.3 < stats.mcnemar_power(2000, 0.05, 0.20)
    with pytest.raises(ValueError):
        stats.mcnemar_sample_size(0.3, 0.2)
    # the exact test is conservative: the n that reaches 80% exactly is a little larger
    n = stats.required_items(0.10, 0.30)
    assert n == 249 and stats.mcnemar_power(n, 0.10, 0.30) >= 0.8 > stats.mcnemar_power(234, 0.10, 0.30)
    # the exact power against a brute-force simulation of the exact test
    rng = np.random.default_rng(0)
    n, delta, psi = 120, 0.15, 0.3
    p_lost, p_gained = (psi + delta) / 2, (psi - delta) / 2
    draws = rng.multinomial(n, [p_lost, p_gained, 1 - psi], size=4000)
    from scipy.stats import binomtest

    rejected = np.mean([binomtest(a, a + b).pvalue < 0.05 if a + b else False for a, b, _ in draws])
    assert stats.mcnemar_power(n, delta, psi) == pytest.approx(rejected, abs=0.03)
