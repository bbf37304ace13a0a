"""What every task shares: its result type and the options a run passes down.

A task is data + prompt builder + metric, independent of the model: ``run(lm, limit, seed)`` gets an
``EvalModel`` (generation, log-likelihood and logits behind one interface) and returns a ``TaskResult``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class ItemMetric:
    """How a metric is rebuilt from the per-sample records, so intervals and paired tests can be computed.

    ``kind`` is one of ``fastprune.evaluate.stats.KINDS``: ``proportion`` (mean of 0/1 ``field``),
    ``mean`` (mean of real ``field``) or ``ppl`` (``exp(sum(field) / sum(weight))`` over windows).
    ``group`` = (sample key, value) restricts the metric to one group, e.g. ("depth", "4").
    """

    field: str
    kind: str = "proportion"
    weight: str | None = None
    group: tuple[str, str] | None = None


@dataclass
class TaskResult:
    """Aggregate metrics (floats), the sample count, and one record per sample for the JSONL dump."""

    metrics: dict[str, float]
    n: int
    samples: list[dict] = field(default_factory=list)
    primary: str = ""  # the metric the summary table and the base-ratio use
    higher_is_better: bool = True
    info: dict[str, str] = field(default_factory=dict)  # non-numeric facts for scores.json (e.g. sandbox)
    # metric -> how its per-item values are read from ``samples`` (intervals, paired tests)
    item_metrics: dict[str, ItemMetric] = field(default_factory=dict)
    # metric -> the score of guessing (e.g. 0.5 on two-choice PIQA); only where one is defined
    chance: dict[str, float] = field(default_factory=dict)


@dataclass
class EvalOptions:
    """Task-level knobs from the CLI; each task reads only the fields it needs."""

    data_dir: Path | None = None  # None: the shared data folder (fastprune.data.paths)
    max_new_tokens: int | None = None  # None: each task's own default
    gsm8k_file: Path | None = None
    gsm8k_shots: int = 8
    piqa_dir: Path | None = None
    ppl_file: Path | None = None
    ppl_max_length: int = 1024
    ppl_stride: int = 512
    mbpp_file: Path | None = None
    math500_file: Path | None = None
    xsum_file: Path | None = None
    humaneval_file: Path | None = None
    humaneval_samples: int = 1  # n > 1 samples with temperature for pass@k
    humaneval_temperature: float = 0.8
    pass_k: tuple[int, ...] = (1, 10)
    sandbox_timeout: float = 10.0
    sandbox_memory_mb: int = 1024
    sandbox_workers: int = 2
    allow_unsandboxed_exec: bool = False  # without an OS sandbox: the Python-level fence only (unsafe)
    arith_shots: int = 4
    arith_kinds: tuple[str, ...] | None = None  # None: every kind of fastprune.evaluate.arith.KINDS
    parens_shots: int = 3
    parens_depths: tuple[int, ...] = (2, 4, 6, 8)


class Task(Protocol):
    name: str

    def run(self, lm, limit: int | None, seed: int) -> TaskResult: ...


def take(items: list, limit: int | None) -> list:
    """The first ``limit`` items: datasets keep their order so every model sees the same subset."""
    return items if limit is None else items[: max(0, limit)]
