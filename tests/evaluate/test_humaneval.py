import math

import pytest

from fastprune.evaluate.humaneval import HumanEvalTask, load_problems, pass_at_k, program, summarize
from fastprune.evaluate.lm import Generation
from fastprune.evaluate.sandbox import ExecResult, run_programs
from fastprune.evaluate.task import EvalOptions


@pytest.fixture(scope="module")
def problems():
    return load_problems()


def test_pass_at_k_matches_the_combinatorial_definition():
    for n, c, k in [(10, 3, 1), (10, 3, 5), (20, 0, 10), (5, 5, 1), (7, 2, 7), (200, 13, 100)]:
        want = 1.0 - math.comb(n - c, k) / math.comb(n, k)
        assert pass_at_k(n, c, k) == pytest.approx(want, rel=1e-9, abs=1e-12)
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    with pytest.raises(ValueError):
        pass_at_k(3, 4, 1)


def test_all_164_canonical_solutions_pass(problems):
    assert len(problems) == 164
    results = run_programs([program(p, p["canonical_solution"]) for p in problems], timeout=15, workers=2)
    failed = [(p["task_id"], r.error) for p, r in zip(problems, results, strict=True) if not r.passed]
    assert failed == []


def test_broken_solutions_fail_with_their_category(problems):
    p = problems[0]
    body = p["canonical_solution"]
    cases = {
        "assertion": "    return False\n",
        "unbalanced_brackets": body.replace("abs(", "abs((", 1),
        "undefined_name": "    return undefined_helper(numbers)\n",
        "timeout": "    while True:\n        pass\n",
        "syntax": "    return = 1\n",
        "other": "    return 1 / 0\n",
    }
    results = run_programs([program(p, c) for c in cases.values()], timeout=2, workers=2)
    assert [r.category for r in results] == list(cases)


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


class CannedLM:
    """First problem: canonical solution; second: unclosed bracket; samples alternate when n > 1."""

    def __init__(self, problems):
        self.problems = problems
        self.calls = []

    def prompt_ids(self, text):
        return [next(i for i, p in enumerate(self.problems) if p["prompt"] == text)]

    def generate(self, prompts, max_new_tokens, temperature=0.0, seed=0, stop_strings=()):
        self.calls.append(temperature)
        out = []
        for j, (i,) in enumerate(prompts):
            good = i == 0 and (temperature == 0 or j % 2 == 0)
            text = self.problems[i]["canonical_solution"] if good else "    return sorted((numbers\n"
            out.append(Generation(text, [0], "stop_string", 5))
        return out


def test_task_greedy_and_sampled(problems):
    lm = CannedLM(problems[:2])
    r = HumanEvalTask(EvalOptions(sandbox_timeout=5)).run(lm, limit=2, seed=0)
    assert r.n == 2 and r.metrics["pass@1"] == 0.5 and lm.calls == [0.0]
    assert r.metrics["fail/unbalanced_brackets"] == 0.5
    assert r.samples[1]["category"] == "unbalanced_brackets" and not r.samples[1]["correct"]
    options = EvalOptions(humaneval_samples=4, pass_k=(1, 2), sandbox_timeout=5)
    r = HumanEvalTask(options).run(lm, limit=2, seed=0)
    assert lm.calls[-1] == 0.8 and len(r.samples) == 8 and r.n == 2
    assert r.metrics["pass@1"] == pytest.approx(0.25)  # problem 0: 2 of 4, problem 1: 0 of 4
    assert r.metrics["pass@2"] == pytest.approx((1 - math.comb(2, 2) / math.comb(4, 2)) / 2)


def test_tiny_model_end_to_end(tiny_lm):
    r = HumanEvalTask(EvalOptions(max_new_tokens=8, sandbox_timeout=5)).run(tiny_lm, limit=2, seed=0)
    assert r.n == 2 and r.metrics["pass@1"] == 0.0
    assert sum(v for k, v in r.metrics.items() if k.startswith("fail/")) == pytest.approx(1.0)
