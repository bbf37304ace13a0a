"""What every task shares: its metadata, its result type and the base class of a task.

A task is data + prompt builder + metric, independent of the model (lm-eval's shape): ``run(lm, limit,
seed)`` gets an ``EvalModel`` (generation, log-likelihood and logits behind one interface) and returns a
``TaskResult``. Each task class declares its ``TaskInfo`` (kind, primary metric, direction, chance) and
the options groups it reads (``option_groups``: group name -> options dataclass); the stage's options
dataclass gets one nested group per name, so the flags (``--ppl-max-length``) and the YAML keys
(``evaluate: {ppl: {max_length: ...}}``) come from the task's own declaration.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any, ClassVar

from fastprune.errors import FastpruneError

# kind -> its side of the paper's contrast (likelihood-scored classification survives pruning, generation
# does not); None: outside that contrast (perplexity, tasks whose kind is not known).
KINDS: dict[str, str | None] = {
    "generative": "generative",  # free-form generation scored against a reference
    "code-exec": "generative",  # generated programs run in the sandbox
    "multiple-choice": "classification",  # log-likelihood of each choice
    "next-token-probe": "reasoning probe",  # argmax over a few candidate next tokens, no generation
    "loglikelihood-perplexity": None,  # perplexity of a text
    "external": None,  # scored by another harness (lm-eval); its own metadata decides
}


def contrast_group(kind: str | None) -> str | None:
    """``classification``, ``generative`` or ``reasoning probe`` for the report's contrast; None outside it."""
    return KINDS.get(kind) if kind else None


@dataclass(frozen=True)
class TaskInfo:
    """What a task is, declared once by the task and recorded with its scores.

    ``primary`` is the metric the tables and the base ratio use (a run may refine it: lm-eval tasks pick
    theirs from what lm-eval reports); ``chance`` is the score of guessing on ``primary`` where that is a
    constant (data-dependent chance levels, e.g. per bracket depth, come with the result instead).
    ``usage`` is how ``--tasks`` names it (``mc:PATH`` for parameterised tasks).
    """

    kind: str
    primary: str
    description: str
    higher_is_better: bool = True
    chance: float | None = None
    usage: str | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"task kind {self.kind!r} is not one of {', '.join(KINDS)}")


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


class Task:
    """Base of every task: its name, metadata and options groups are class attributes.

    ``build(options, value)`` makes the task from the stage's options (``value``: the part after the
    colon of a parameterised name such as ``mc:PATH``); the data is read and checked there, so a bad file
    fails before any model loads.
    """

    name: ClassVar[str]
    info: ClassVar[TaskInfo]
    option_groups: ClassVar[dict[str, type]] = {}
    runs_code: ClassVar[bool] = False  # executes model-written programs: needs the sandbox
    parameterised: ClassVar[bool] = False  # named PREFIX:VALUE (``name`` is the prefix)

    def __init__(self, options: Any):
        self.options = options

    @classmethod
    def build(cls, options: Any, value: str | None = None) -> Task:
        if value is not None:
            raise FastpruneError(f"task {cls.name!r} takes no ':' value")
        return cls(options)

    def run(self, lm, limit: int | None, seed: int) -> TaskResult:
        raise NotImplementedError


def positive_ints(text: str) -> tuple[int, ...]:
    """Command-line ``1,10`` -> ``(1, 10)``; a usage error unless every value is a positive integer."""
    try:
        values = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def take(items: list, limit: int | None) -> list:
    """The first ``limit`` items: datasets keep their order so every model sees the same subset."""
    return items if limit is None else items[: max(0, limit)]
