"""Per-item values of a task's metrics: the bridge from sample records to intervals and paired tests.

Every sample record carries an ``id`` (the task's own, or its position: datasets keep their order and a
limit takes the first items, so position identifies the item across models). A metric's values are read
from the records through its ``ItemMetric``; tasks that declare none get one inferred when their primary
metric is exactly the mean of a ``correct`` field (gsm8k, math500, humaneval with one sample, ...).
"""

from __future__ import annotations

import math
from dataclasses import asdict

from fastprune.evaluate.task import ItemMetric, TaskResult


def with_ids(samples: list[dict]) -> list[dict]:
    """The records with an ``id`` first; ids a task set are kept as they are."""
    return [{"id": str(i), **s} if "id" not in s else s for i, s in enumerate(samples)]


def item_metrics_of(result: TaskResult) -> dict[str, ItemMetric]:
    specs = dict(result.item_metrics)
    if result.primary and result.primary not in specs:
        inferred = _infer(result)
        if inferred is not None:
            specs[result.primary] = inferred
    return specs


def _infer(result: TaskResult) -> ItemMetric | None:
    samples = result.samples
    if not samples or len(samples) != result.n or not all("correct" in s for s in samples):
        return None
    values = [s["correct"] for s in samples]
    if not all(isinstance(v, bool | int | float) for v in values):
        return None
    target = result.metrics.get(result.primary)
    if target is None or not math.isclose(sum(float(v) for v in values) / len(values), target, abs_tol=1e-9):
        return None
    kind = "proportion" if all(isinstance(v, bool) or v in (0, 1) for v in values) else "mean"
    return ItemMetric("correct", kind)


def selected(samples: list[dict], spec: ItemMetric) -> list[dict]:
    if spec.group is None:
        return samples
    key, value = spec.group
    return [s for s in samples if str(s.get(key)) == value]


def values_of(samples: list[dict], spec: ItemMetric) -> tuple[list[str], list[float], list[float] | None]:
    """(ids, values, weights or None) of the items a metric covers."""
    chosen = selected(samples, spec)
    ids = [str(s["id"]) for s in chosen]
    values = [float(s[spec.field]) for s in chosen]
    weights = [float(s[spec.weight]) for s in chosen] if spec.weight else None
    return ids, values, weights


def spec_to_dict(spec: ItemMetric) -> dict:
    return {k: v for k, v in asdict(spec).items() if v is not None}


def spec_from_dict(data: dict) -> ItemMetric:
    group = data.get("group")
    return ItemMetric(data["field"], data.get("kind", "proportion"), data.get("weight"),
                      tuple(group) if group else None)
