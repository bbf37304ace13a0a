"""scores.json and the comparison table: every model against the first one (the base).

``scores`` is ``{model: {task: {metric: value, "n": count, "ci95": {metric: [low, high]},
"ci_method": {metric: name}, "n_items": {metric: count}, "chance": {metric: value},
"meta": {"kind": ..., "primary": metric, "higher_is_better": bool}}}}``: every metric
whose per-item values the task records gets its 95% interval (Wilson for proportions, bootstrap over
items for means, bootstrap over windows for perplexity). ``meta`` is the task's metadata as the run
used it (``TaskInfo.kind``, the result's primary metric and direction), so readers of the scores (this
table, the ``fastprune run`` report) need no table of tasks of their own. Each task names one primary metric;
the table shows it for every model with its ratio to the base, and one line per model says what it
keeps ("pruned keeps 91% of piqa, 12% of gsm8k"). For lower-is-better metrics (perplexity) the ratio
is a factor ("ppl x1.8") rather than a share kept.
"""

from __future__ import annotations

import logging
import math

from fastprune.evaluate import stats
from fastprune.evaluate.items import item_metrics_of, values_of
from fastprune.evaluate.task import TaskResult

log = logging.getLogger(__name__)


def task_meta(task, result: TaskResult) -> dict:
    """What scores.json records of a task beside its numbers: its kind, primary metric and direction."""
    info = getattr(task, "info", None)
    if info is not None and info.kind != "external" and (info.primary, info.higher_is_better) != (
            result.primary, result.higher_is_better):
        # the result is what was measured, so it is what gets recorded; the declaration is the bug
        log.warning("task %s declares primary %s (higher is better: %s) but reported %s (%s)", task.name,
                    info.primary, info.higher_is_better, result.primary, result.higher_is_better)
    return {"kind": info.kind if info is not None else None, "primary": result.primary,
            "higher_is_better": bool(result.higher_is_better)}


def primaries_of(scores: dict, fallback: dict[str, tuple[str, bool]] | None = None) -> dict[str, tuple[str, bool]]:
    """task -> (primary metric, higher_is_better) from the ``meta`` the scores carry, in task order.

    ``fallback`` (e.g. run.json's ``primary`` of an evaluation written before scores carried ``meta``)
    covers tasks without it.
    """
    out: dict[str, tuple[str, bool]] = {}
    for by_task in scores.values():
        for task, entry in by_task.items():
            meta = entry.get("meta") if isinstance(entry, dict) else None
            if task in out:
                continue
            if meta and meta.get("primary"):
                out[task] = (meta["primary"], bool(meta.get("higher_is_better", True)))
            elif fallback and task in fallback:
                out[task] = fallback[task]
    return out


def task_scores(result: TaskResult, seed: int = 0) -> dict:
    """The scores.json entry of one task; ``result.samples`` must already carry their ids."""
    out: dict = {**{k: float(v) for k, v in result.metrics.items()}, "n": int(result.n)}
    ci, method, counts = {}, {}, {}
    for name, spec in item_metrics_of(result).items():
        _, values, weights = values_of(result.samples, spec)
        if not values:
            continue
        (low, high), method[name] = stats.interval(spec.kind, values, weights, seed=seed)
        ci[name], counts[name] = [low, high], len(values)
    out["ci95"], out["ci_method"], out["n_items"] = ci, method, counts
    if result.chance:
        out["chance"] = {k: float(v) for k, v in result.chance.items()}
    out.update(result.info)
    return out


def with_interval(value: float, ci: list[float] | tuple[float, float] | None, fmt=None) -> str:
    """``0.66 [0.60, 0.72]``; the bare value when there is no interval."""
    fmt = fmt or _fmt
    if ci is None or not all(isinstance(x, int | float) and math.isfinite(x) for x in ci):
        return fmt(value)
    return f"{fmt(value)} [{fmt(ci[0])}, {fmt(ci[1])}]"


def chance_note(entry: dict, metric: str) -> str:
    chance = entry.get("chance", {}).get(metric)
    return "" if chance is None else f" (chance {100 * chance:.0f}%)"


def _ratio(value: float, base: float, higher_is_better: bool) -> str:
    if not (math.isfinite(value) and math.isfinite(base)) or base == 0:
        return "n/a"
    if higher_is_better:
        return f"{100 * value / base:.0f}%"
    return f"x{value / base:.2f}"


def _fmt(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    return f"{value:.3f}" if abs(value) < 10 else f"{value:.2f}"


def format_table(scores: dict, primaries: dict[str, tuple[str, bool]], comparisons: dict | None = None) -> str:
    """A plain-text table (task/metric rows, model columns, values with 95% intervals) plus the "keeps"
    summary lines.

    ``primaries`` maps task -> (primary metric, higher_is_better); ``comparisons`` (model -> task ->
    ``PairedComparison``, optional) adds the paired retention interval and one verdict line per difference.
    """
    models = list(scores)
    if not models:
        return "(no scores)"
    base = models[0]
    header = ["task", "metric", *models]
    rows = []
    comparisons = comparisons or {}
    for task, (metric, higher) in primaries.items():
        entry = scores[base].get(task, {})
        row = [f"{task} (n={entry.get('n', '?')})", metric + chance_note(entry, metric)]
        base_value = entry.get(metric, float("nan"))
        for i, m in enumerate(models):
            value = scores[m].get(task, {}).get(metric)
            cell = "-" if value is None else with_interval(value, scores[m][task].get("ci95", {}).get(metric))
            if value is not None and i > 0:
                cell += f" ({_ratio(value, base_value, higher)})"
            row.append(cell)
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
            c = comparisons.get(m, {}).get(task)
            if higher:
                r += retention_interval(c)
            parts.append(f"{r} of {task}" if higher else f"{metric} {r} of base on {task}")
        if parts:
            lines.append(f"{m} keeps {', '.join(parts)} (base: {base})")
    for m, by_task in comparisons.items():
        for task, c in by_task.items():
            lines.append(f"{m} vs {base} on {task}: {verdict(c)}")
    return "\n".join(lines)


def retention_interval(c: stats.PairedComparison | None) -> str:
    """`` [86%, 96%]`` for the paired retention interval; an upper end with no bound when some resamples of a
    small base score hit zero; empty when there is no interval at all."""
    if c is None or not math.isfinite(c.retention_ci[0]) or math.isnan(c.retention_ci[1]):
        return ""
    high = "unbounded" if math.isinf(c.retention_ci[1]) else f"{100 * c.retention_ci[1]:.0f}%"
    return f" [{100 * c.retention_ci[0]:.0f}%, {high}]"


def verdict(c: stats.PairedComparison) -> str:
    """One line on a paired difference: its size, interval, test, and whether the data resolve it."""
    diff = (f"difference {c.difference:+.3f} [{c.difference_ci[0]:+.3f}, {c.difference_ci[1]:+.3f}], "
            f"{c.test} p={c.p_value:.3g}")
    if c.lost is not None:
        diff += f" ({c.lost} lost, {c.gained} gained)"
    if c.resolved:
        return f"{diff}: resolved at 95%"
    return f"{diff}: not resolved; {too_small(c)}"


def too_small(c: stats.PairedComparison) -> str:
    """The plain statement of what this sample cannot tell apart."""
    if not math.isfinite(c.min_resolvable):
        return f"n={c.n}: too few items to resolve any difference"
    m = c.min_resolvable
    return f"n={c.n}: a difference under {m:.2f} cannot be resolved" if m < 10 else \
        f"n={c.n}: a difference under {m:.1f} cannot be resolved"
