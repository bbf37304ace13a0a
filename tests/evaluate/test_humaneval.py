import math

import pytest

from fastprune.evaluate import EvaluateOptions
from fastprune.evaluate.code_exec import SandboxOptions
from fastprune.evaluate.humaneval import HumanEvalOptions, HumanEvalTask, load_problems, program
from fastprune.evaluate.lm import Generation
from fastprune.evaluate.sandbox import run_programs


@pytest.fixture(scope="module")
def problems():
    return load_problems()


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
    r = HumanEvalTask(EvaluateOptions(sandbox=SandboxOptions(timeout=5))).run(lm, limit=2, seed=0)
    assert r.n == 2 and r.metrics["pass@1"] == 0.5 and lm.calls == [0.0]
    assert r.metrics["fail/unbalanced_brackets"] == 0.5
    assert r.samples[1]["category"] == "unbalanced_brackets" and not r.samples[1]["correct"]
    options = EvaluateOptions(humaneval=HumanEvalOptions(samples=4, pass_k=(1, 2)), sandbox=SandboxOptions(timeout=5))
    r = HumanEvalTask(options).run(lm, limit=2, seed=0)
    assert lm.calls[-1] == 0.8 and len(r.samples) == 8 and r.n == 2
    assert r.metrics["pass@1"] == pytest.approx(0.25)  # problem 0: 2 of 4, problem 1: 0 of 4
    assert r.metrics["pass@2"] == pytest.approx((1 - math.comb(2, 2) / math.comb(4, 2)) / 2)


def test_tiny_model_end_to_end(tiny_lm):
    options = EvaluateOptions(max_new_tokens=8, sandbox=SandboxOptions(timeout=5))
    r = HumanEvalTask(options).run(tiny_lm, limit=2, seed=0)
    assert r.n == 2 and r.metrics["pass@1"] == 0.0
    assert sum(v for k, v in r.metrics.items() if k.startswith("fail/")) == pytest.approx(1.0)
