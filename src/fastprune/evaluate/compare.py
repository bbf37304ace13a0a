"""Paired comparison of two evaluations after the fact: ``fastprune eval compare A B``.

A and B are ``fastprune eval`` output folders (or their ``scores.json``). Items are matched by the ``id``
of each sample record; a matched item whose prompt or target differs between the runs is not the same
item, and the comparison refuses it rather than pairing unlike things. Every task both runs share is
compared on its primary metric: difference with its paired-bootstrap interval, retention with its
interval, the paired test's p-value, and whether the difference is resolved at 95%.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from fastprune.data.jsonl import read_jsonl
from fastprune.errors import FastpruneError
from fastprune.evaluate import stats
from fastprune.evaluate.items import spec_from_dict, values_of
from fastprune.evaluate.report import primaries_of, retention_interval, verdict
from fastprune.evaluate.task import ItemMetric
from fastprune.utils_io import atomic_write_json, slug


@dataclass
class EvalRun:
    """One ``fastprune eval`` output folder: scores, run metadata and the per-sample records."""

    folder: Path
    scores: dict
    meta: dict

    @property
    def models(self) -> list[str]:
        return list(self.scores)

    def samples(self, model: str, task: str) -> list[dict]:
        index = self.meta.get("models", self.models).index(model)
        path = self.folder / "samples" / f"{index}_{slug(model)}" / f"{slug(task)}.jsonl"
        if not path.is_file():
            raise FastpruneError(f"{path} is missing: per-sample records are needed for a paired comparison")
        return [record for _, record in read_jsonl(path)]

    def primary(self, task: str) -> tuple[str, bool] | None:
        """From the scores' ``meta``; run.json's ``primary`` for evaluations written before it existed."""
        p = self.meta.get("primary", {}).get(task)
        fallback = {task: (p["metric"], bool(p["higher_is_better"]))} if p else None
        return primaries_of(self.scores, fallback).get(task)

    def item_metric(self, task: str, metric: str) -> ItemMetric | None:
        spec = self.meta.get("item_metrics", {}).get(task, {}).get(metric)
        return spec_from_dict(spec) if spec else None


def load_eval(path: str | Path) -> EvalRun:
    path = Path(path)
    folder = path.parent if path.is_file() else path
    scores_file, run_file = folder / "scores.json", folder / "run.json"
    for f in (scores_file, run_file):
        if not f.is_file():
            raise FastpruneError(f"{f} does not exist; give a 'fastprune eval' output folder or its scores.json")
    try:
        return EvalRun(folder, json.loads(scores_file.read_text()), json.loads(run_file.read_text()))
    except json.JSONDecodeError as exc:
        raise FastpruneError(f"{folder}: scores.json or run.json is not valid JSON ({exc})") from exc


def compare_samples(base: list[dict], other: list[dict], spec: ItemMetric, higher_is_better: bool,
                    seed: int = 0, where: str = "") -> stats.PairedComparison:
    """Pair the items both record lists share (by id) and compare them."""
    ids_a, va, wa = values_of(base, spec)
    ids_b, vb, wb = values_of(other, spec)
    by_id_b = {i: k for k, i in enumerate(ids_b)}
    records_b = {str(s["id"]): s for s in other}
    records_a = {str(s["id"]): s for s in base}
    shared = [k for k, i in enumerate(ids_a) if i in by_id_b]
    if not shared:
        raise FastpruneError(f"{where}: the two runs share no item ids; nothing can be paired")
    for k in shared:
        i = ids_a[k]
        for field in ("prompt", "target"):
            if field in records_a[i] and field in records_b[i] and records_a[i][field] != records_b[i][field]:
                raise FastpruneError(f"{where}: item {i!r} has a different {field} in the two runs "
                                     "(different data, seed or limit); they cannot be paired")
    a = [va[k] for k in shared]
    b = [vb[by_id_b[ids_a[k]]] for k in shared]
    weights = None
    if spec.weight:
        weights = [wa[k] for k in shared]
        if weights != [wb[by_id_b[ids_a[k]]] for k in shared]:
            raise FastpruneError(f"{where}: the runs scored different tokens per window (different "
                                 "tokenizers?); their perplexities cannot be paired")
    return stats.compare_paired(spec.kind, a, b, weights, higher_is_better, seed=seed)


def compare_evals(a: EvalRun, b: EvalRun, model_a: str | None = None, model_b: str | None = None,
                  seed: int = 0) -> dict[str, stats.PairedComparison]:
    """task -> comparison of ``model_b`` (of run b) against ``model_a`` (of run a) on the primary metric."""
    model_a = model_a or a.models[0]
    model_b = model_b or b.models[0]
    out = {}
    for task in a.scores.get(model_a, {}):
        if task not in b.scores.get(model_b, {}):
            continue
        primary = a.primary(task)
        if primary is None or b.primary(task) != primary:
            continue
        spec = a.item_metric(task, primary[0])
        if spec is None or b.item_metric(task, primary[0]) != spec:
            continue
        out[task] = compare_samples(a.samples(model_a, task), b.samples(model_b, task), spec, primary[1],
                                    seed=seed, where=task)
    return out


def format_comparison(comparisons: dict[str, stats.PairedComparison], label_a: str, label_b: str) -> str:
    if not comparisons:
        return f"{label_b} vs {label_a}: no task with per-item records in common"
    lines = [f"{label_b} vs {label_a} (paired, same items, 95% intervals)"]
    for task, c in comparisons.items():
        keep = "n/a" if not math.isfinite(c.retention) else f"{100 * c.retention:.0f}%"
        keep += retention_interval(c)
        lines.append(f"  {task}: {c.base:.3f} -> {c.other:.3f}, keeps {keep}; {verdict(c)}")
    return "\n".join(lines)


def run_compare(path_a: str, path_b: str, out: Path | None = None, log=print) -> dict:
    a, b = load_eval(path_a), load_eval(path_b)
    comparisons = compare_evals(a, b)
    log(format_comparison(comparisons, f"{a.models[0]} ({path_a})", f"{b.models[0]} ({path_b})"))
    doc = {"a": {"path": str(path_a), "model": a.models[0]}, "b": {"path": str(path_b), "model": b.models[0]},
           "comparisons": {t: c.as_dict() for t, c in comparisons.items()}}
    if out is not None:
        atomic_write_json(Path(out) / "comparison.json", doc)
    return doc
