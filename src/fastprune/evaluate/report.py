"""scores.json and the comparison table: every model against the first one (the base).

``scores`` is ``{model: {task: {metric: value, "n": count}}}``. Each task names one primary metric;
the table shows it for every model with its ratio to the base, and one line per model says what it
keeps ("pruned keeps 91% of piqa, 12% of gsm8k"). For lower-is-better metrics (perplexity) the ratio
is a factor ("ppl x1.8") rather than a share kept.
"""

from __future__ import annotations

import math
import re

from fastprune.evaluate.task import TaskResult


def task_scores(result: TaskResult) -> dict:
    return {**{k: float(v) for k, v in result.metrics.items()}, "n": int(result.n), **result.info}


def slug(text: str) -> str:
    """A file-name-safe rendering of a model or task name."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", text.strip("/")).strip("_.")
    return s[-80:] or "model"


def _ratio(value: float, base: float, higher_is_better: bool) -> str:
    if not (math.isfinite(value) and math.isfinite(base)) or base == 0:
        return "n/a"
    if higher_is_better:
        return f"{100 * value / base:.0f}%"
    return f"x{value / base:.2f}"


def _fmt(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    return f"{value:.4f}" if abs(value) < 10 else f"{value:.2f}"


def format_table(scores: dict, primaries: dict[str, tuple[str, bool]]) -> str:
    """A plain-text table (task/metric rows, model columns) plus the "keeps" summary lines.

    ``primaries`` maps task -> (primary metric, higher_is_better).
    """
    models = list(scores)
    if not models:
        return "(no scores)"
    base = models[0]
    header = ["task", "metric", *models]
    rows = []
    for task, (metric, higher) in primaries.items():
        row = [task, metric]
        base_value = scores[base].get(task, {}).get(metric, float("nan"))
        for i, m in enumerate(models):
            value = scores[m].get(task, {}).get(metric)
            if value is None:
                row.append("-")
            elif i == 0:
                row.append(_fmt(value))
            else:
                row.append(f"{_fmt(value)} ({_ratio(value, base_value, higher)})")
        rows.append(row)
    widths = [max(len(str(r[c])) for r in [header, *rows]) for c in range(len(header))]
    lines = ["  ".join(str(cell).ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
             for r in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for m in models[1:]:
        parts = []
        for task, (metric, higher) in primaries.items():
            value, b = scores[m].get(task, {}).get(metric), scores[base].get(task, {}).get(metric)
            if value is None or b is None:
                continue
            r = _ratio(value, b, higher)
            if r == "n/a":  # base scored 0: no share to report
                continue
            parts.append(f"{r} of {task}" if higher else f"{metric} {r} of base on {task}")
        if parts:
            lines.append(f"{m} keeps {', '.join(parts)} (base: {base})")
    return "\n".join(lines)
