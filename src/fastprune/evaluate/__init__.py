"""Evaluation of what pruning breaks: generative reasoning, algorithmic probes, classification, perplexity.

A task is data + prompt builder + metric (``fastprune.evaluate.<task>``), independent of the model;
``EvalModel`` puts generation (the fused engine) and batched scoring behind one interface;
``run_eval`` runs tasks over models and writes scores.json, per-sample JSONL and the comparison table.
"""

from fastprune.evaluate.registry import TASKS, make_task, make_tasks
from fastprune.evaluate.task import EvalOptions, TaskResult

__all__ = ["TASKS", "EvalOptions", "TaskResult", "make_task", "make_tasks"]
