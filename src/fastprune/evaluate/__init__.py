"""Evaluation of what pruning breaks: generative reasoning, algorithmic probes, classification, perplexity.

A task is data + prompt builder + metric (``fastprune.evaluate.<task>``), independent of the model, and
declares its metadata (``TaskInfo``: kind, primary metric, direction, chance) and its options groups;
``EvalModel`` puts generation (the fused engine) and batched scoring behind one interface; ``run(options)``
(options: ``EvaluateOptions``) runs tasks over models and writes scores.json (each task's metadata beside
its scores), per-sample JSONL and the comparison table.
"""

from fastprune.evaluate.generative import GenerativeTask
from fastprune.evaluate.options import GeneralOptions, options_class
from fastprune.evaluate.registry import TASKS, make_task, make_tasks, register_task, task_info, unregister_task
from fastprune.evaluate.stage import run
from fastprune.evaluate.task import KINDS, Task, TaskInfo, TaskResult, contrast_group

# what readers of finished evaluations (the ``fastprune run`` report) use; imported on first use, as they
# pull in scipy
_READERS = {
    "PairedComparison": "fastprune.evaluate.stats", "compare_evals": "fastprune.evaluate.compare",
    "load_eval": "fastprune.evaluate.compare", "chance_note": "fastprune.evaluate.report",
    "primaries_of": "fastprune.evaluate.report", "retention_interval": "fastprune.evaluate.report",
    "too_small": "fastprune.evaluate.report", "with_interval": "fastprune.evaluate.report",
}

__all__ = ["KINDS", "TASKS", "EvaluateOptions", "GeneralOptions", "GenerativeTask", "Task", "TaskInfo",
           "TaskResult", "contrast_group", "make_task", "make_tasks", "options_class", "register_task", "run",
           "task_info", "unregister_task", *_READERS]


def __getattr__(name: str):
    if name == "EvaluateOptions":  # derived from the registry: the class of the tasks registered now
        return options_class()
    if name in _READERS:
        import importlib

        return getattr(importlib.import_module(_READERS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
