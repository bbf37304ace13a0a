"""``lm_eval:NAME``: run an lm-evaluation-harness task on the model fastprune has already loaded.

The model goes to lm-eval's own ``HFLM`` as the ``PreTrainedModel`` instance we hold, so whatever the spec
was (pruned checkpoint, ``tiny:``, GGUF, hub id) lm-eval scores exactly the weights, dtype and device of
our run; a pruned checkpoint dir is a standard HF checkpoint, so ``lm_eval --model hf`` runs it unchanged
as well. lm-eval keeps its own prompt formats, metrics and fixed default seeds (``--seed`` does not touch
them), so a score here equals a stock ``lm_eval`` run of the same checkpoint with the same ``--limit``.

lm-eval is optional: it is imported only when an ``lm_eval:`` task is built, and its absence is a
``FastpruneError`` that names ``pip install lm_eval``.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import math
from collections.abc import Sequence
from pathlib import Path

from fastprune.errors import FastpruneError
from fastprune.evaluate.task import Task, TaskInfo, TaskResult

PREFIX = "lm_eval:"
PRIMARY_ORDER = ("acc_norm", "acc")
# lm-eval's output_type -> our task kind (plain ``loglikelihood`` tasks, e.g. lambada, stay "external")
KIND_OF_OUTPUT = {"multiple_choice": "multiple-choice", "generate_until": "generative",
                  "loglikelihood_rolling": "loglikelihood-perplexity"}


def output_types(loaded) -> set[str]:
    """The output types of every task in what ``TaskManager.load`` returned (groups nest dicts)."""
    if isinstance(loaded, dict):
        return set().union(*(output_types(v) for v in loaded.values())) if loaded else set()
    kind = getattr(loaded, "OUTPUT_TYPE", None) or getattr(getattr(loaded, "config", None), "output_type", None)
    return {kind} if isinstance(kind, str) else set()


def kind_of(types: set[str]) -> str:
    """Our kind of a task or group whose tasks have these output types; "external" when mixed or unknown."""
    kinds = {KIND_OF_OUTPUT.get(t, "external") for t in types}
    return kinds.pop() if len(kinds) == 1 else "external"


def require_lm_eval():
    """The ``lm_eval`` module, or a FastpruneError saying how to install it."""
    try:
        import lm_eval
    except ImportError as exc:
        raise FastpruneError(
            f"lm_eval: tasks need lm-evaluation-harness, which cannot be imported ({exc}); "
            "install it with `pip install lm_eval`"
        ) from None
    return lm_eval


def task_manager(name: str, include: Sequence[str | Path] = ()):
    """An lm-eval ``TaskManager`` that knows task ``name``; unknown names list close matches.

    Indexing lm-eval's thousands of built-in YAMLs takes seconds, so a plain task found in the local
    ``include`` folders gets a manager over those folders only. Groups and tags may name built-in
    tasks, so they (and names not found locally) get the full index.
    """
    require_lm_eval()
    from lm_eval.tasks import TaskManager

    folders = [Path(p) for p in include]
    for folder in folders:
        if not folder.is_dir():
            raise FastpruneError(f"--lm-eval-include {folder} is not a folder of lm-eval task YAML files")
    paths = [str(f.resolve()) for f in folders] or None
    if paths:
        local = TaskManager(include_path=paths, include_defaults=False)
        if name in local.all_subtasks:
            return local
    manager = TaskManager(include_path=paths)
    if name not in manager.all_tasks:
        close = difflib.get_close_matches(name, manager.all_tasks, n=5, cutoff=0.6)
        hint = f"; close matches: {', '.join(close)}" if close else ""
        where = "" if paths else "; for a task defined in a local YAML pass its folder with --lm-eval-include"
        raise FastpruneError(f"lm-eval has no task or group named {name!r}{hint}{where}")
    return manager


def _metric_name(key: str) -> str | None:
    """``"acc,none"`` -> ``"acc"``; ``"exact_match,strict-match"`` -> ``"exact_match/strict-match"``.

    Keys without a filter part (``alias``, ``name``, ``sample_len``) are not metrics.
    """
    metric, sep, filt = key.partition(",")
    if not sep:
        return None
    return metric if filt == "none" else f"{metric}/{filt}"


def _leaves(name: str, group_subtasks: dict) -> list[str]:
    children = group_subtasks.get(name)
    if not children:
        return [name]
    return [leaf for child in children for leaf in _leaves(child, group_subtasks)]


def _sample_record(task: str, s: dict) -> dict:
    args = s.get("arguments") or []
    first = args[0] if args else None
    record = {
        "task": task, "doc_id": s.get("doc_id"),
        "prompt": first[0] if isinstance(first, list | tuple) and first else None,
        "target": s.get("target"), "responses": s.get("filtered_resps"), "doc": s.get("doc"),
    }
    for metric in s.get("metrics", []):
        if metric in s:
            record[metric] = s[metric]
    if "acc" in record:
        record["correct"] = bool(record["acc"])
    return record


def to_task_result(out: dict, name: str) -> TaskResult:
    """Our ``TaskResult`` from what ``lm_eval.simple_evaluate`` returned for task or group ``name``.

    Metrics keep lm-eval's names (filter ``none`` dropped, other filters after a slash), stderr
    included; the primary metric is acc_norm if present, else acc, else the first non-stderr number.
    """
    results = out.get("results", {})
    if name not in results:
        raise FastpruneError(f"lm-eval returned no results for {name!r} (got {', '.join(results) or 'none'})")
    metrics = {}
    for key, value in results[name].items():
        metric = _metric_name(key)
        # stderr is "N/A" when lm-eval cannot estimate it; bools are not scores
        if metric is None or isinstance(value, bool) or not isinstance(value, int | float):
            continue
        metrics[metric] = float(value)
    scores = [m for m in metrics if "_stderr" not in m and math.isfinite(metrics[m])]
    if not scores:
        raise FastpruneError(f"lm-eval reported no numeric metric for {name!r}; if it is a group without "
                             "aggregate metrics, list its tasks in --tasks instead")
    primary = next((m for m in PRIMARY_ORDER if m in metrics), scores[0])
    leaves = _leaves(name, out.get("group_subtasks", {}))
    n_samples = out.get("n-samples", {})
    n = sum(int(n_samples.get(leaf, {}).get("effective", 0)) for leaf in leaves)
    samples = [_sample_record(leaf, s) for leaf in leaves for s in out.get("samples", {}).get(leaf, [])]
    higher = out.get("higher_is_better", {}).get(name, {}).get(primary.split("/")[0], True)
    return TaskResult(metrics, n, samples, primary=primary, higher_is_better=bool(higher))


class LmEvalTask(Task):
    """``lm_eval:NAME``: lm-eval task or group ``NAME`` scored by lm-eval on our loaded model.

    lm-eval owns the prompts and metrics, so the primary metric and its direction come with each result
    (``to_task_result``); the declared primary is the first choice of ``PRIMARY_ORDER``.
    """

    name = "lm_eval"
    info = TaskInfo("external", PRIMARY_ORDER[0], "an lm-evaluation-harness task or group (pip install lm_eval)",
                    usage="lm_eval:NAME")
    parameterised = True

    @classmethod
    def build(cls, options, value: str | None = None) -> LmEvalTask:
        return cls(value or "", options.lm_eval_include)

    def __init__(self, lm_eval_name: str, include: Sequence[str | Path] = ()):
        if not lm_eval_name:
            raise FastpruneError("lm_eval: needs a task name, e.g. lm_eval:piqa")
        self.lm_eval_name = lm_eval_name
        self.name = PREFIX + lm_eval_name
        self.manager = task_manager(lm_eval_name, include)
        self._check_loads()

    def _check_loads(self) -> None:
        """Build the task once now, so a missing dataset fails before any model is loaded.

        Each ``run`` builds it again (from the datasets cache): lm-eval keeps per-run state (requests,
        few-shot seed) on its task objects, so they are not shared between models.
        """
        try:
            loaded = self.manager.load([self.lm_eval_name])
        except Exception as exc:  # lm-eval and datasets raise many types; the user needs the message
            raise FastpruneError(
                f"lm-eval could not build task {self.lm_eval_name!r}: {type(exc).__name__}: {exc} "
                "(hub datasets need a network or the datasets cache; relative data_files in a local YAML "
                "are resolved against the working directory)"
            ) from exc
        # lm-eval's output type says what kind of task it is; the report's contrast reads the kind
        self.info = dataclasses.replace(self.info, kind=kind_of(output_types(loaded)))

    def run(self, lm, limit: int | None, seed: int) -> TaskResult:
        lm_eval = require_lm_eval()
        if getattr(lm, "served", None):
            return self._evaluate(lm_eval, served_model(lm), limit)
        from lm_eval.models.huggingface import HFLM

        # our instance, not a path: lm-eval would otherwise reload (and maybe recast) the weights. It
        # warns that an instance makes it ignore its loading arguments, which is the point here.
        hf_logger = logging.getLogger(HFLM.__module__)
        level = hf_logger.level
        hf_logger.setLevel(logging.ERROR)
        try:
            model = HFLM(pretrained=lm.model, tokenizer=lm.tokenizer, batch_size=lm.batch_size)
        finally:
            hf_logger.setLevel(level)
        return self._evaluate(lm_eval, model, limit)

    def _evaluate(self, lm_eval, model, limit: int | None) -> TaskResult:
        out = lm_eval.simple_evaluate(
            model=model, tasks=[self.lm_eval_name], task_manager=self.manager, limit=limit,
            log_samples=True,
        )
        if out is None:  # only non-zero ranks of a distributed lm-eval run get None
            raise FastpruneError(f"lm-eval returned no results for {self.name} on this process")
        return to_task_result(out, self.lm_eval_name)


def served_model(lm):
    """lm-eval's own ``local-completions`` model on the server ``lm`` generates with (``--engine vllm``):
    token-id requests, log-likelihoods from the server's echoed prompt log-probs."""
    from lm_eval.models.openai_completions import LocalCompletionsAPI

    served = lm.served
    if not served.get("tokenizer"):
        raise FastpruneError("lm_eval: tasks on a reused vLLM server need the model's tokenizer on disk; give the "
                             "model as a checkpoint directory")
    return LocalCompletionsAPI(
        base_url=f"{served['url']}/v1/completions", model=served["model"], tokenizer=served["tokenizer"],
        tokenizer_backend="huggingface", tokenized_requests=True, num_concurrent=lm.batch_size,
        max_length=lm.max_seq_len)
