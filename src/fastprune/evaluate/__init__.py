"""Evaluation of what pruning breaks: generative reasoning, algorithmic probes, classification, perplexity.

A task is data + prompt builder + metric (``fastprune.evaluate.<task>``), independent of the model;
``EvalModel`` puts generation (the fused engine) and batched scoring behind one interface;
``run_eval`` runs tasks over models and writes scores.json, per-sample JSONL and the comparison table.
The comparison and reporting helpers (``compare_evals``, ``retention_interval``, ...) resolve on first use:
they pull in scipy.
"""

import importlib

from fastprune.evaluate.registry import TASKS, make_task, make_tasks
from fastprune.evaluate.task import EvalOptions, TaskResult

_LAZY = {
    "compare_evals": "compare", "load_eval": "compare",
    "chance_note": "report", "retention_interval": "report", "too_small": "report", "with_interval": "report",
    "PairedComparison": "stats",
}
__all__ = ["TASKS", "EvalOptions", "TaskResult", "make_task", "make_tasks", *sorted(_LAZY)]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'fastprune.evaluate' has no attribute {name!r}")
    return getattr(importlib.import_module(f"fastprune.evaluate.{_LAZY[name]}"), name)
