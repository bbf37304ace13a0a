"""Run tasks over models: load each model once, run every task, write samples and scores as they finish.

Layout of ``out``: ``scores.json`` (``{model: {task: {metric: value, "n": count, "ci95": ...}}}``; code
tasks also ``"sandbox"``), ``run.json`` (arguments, provenance, seconds per task, each task's primary and
per-item metrics, the sandbox kind), ``samples/<model>/<task>.jsonl`` (one record per sample with its ``id``:
prompt, generation, extracted answer, correct, ...) and, with two or more models, ``comparison.json`` (every
model against the first, paired on the same items). Each file is written atomically after every task, so an
interrupted run keeps what it finished.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path

from fastprune.errors import FastpruneError
from fastprune.evaluate.compare import compare_samples
from fastprune.evaluate.items import item_metrics_of, spec_to_dict, with_ids
from fastprune.evaluate.lm import EvalModel
from fastprune.evaluate.report import format_table, primaries_of, task_meta, task_scores
from fastprune.evaluate.sandbox import UNSANDBOXED_WARNING, require_sandbox
from fastprune.evaluate.task import Task
from fastprune.options import options_to_mapping
from fastprune.provenance import run_provenance
from fastprune.utils_io import atomic_write_json, atomic_write_text, require_output_dir, slug

PLAIN_CHAT = "rendered as plain text: the tokenizer has no chat template"
logger = logging.getLogger(__name__)


def _jsonl(records: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in records)


def _flat(mapping: dict, prefix: str = "") -> dict[str, str]:
    """Options as ``{"ppl_max_length": "1024", ...}``: each task group's fields under its flag's name."""
    out = {}
    for key, value in mapping.items():
        if isinstance(value, dict) and key not in ("task_limits",):
            out.update(_flat(value, f"{prefix}{key}_"))
        else:
            out[prefix + key] = str(value)
    return out


def run_eval(
    models: Sequence[str],
    tasks: Sequence[Task],
    out: str | Path,
    limit: int | None = None,
    seed: int = 0,
    batch_size: int = 8,
    dtype: str = "auto",
    device: str = "cpu",
    options=None,
    loader=None,
    progress: bool = True,
    log=print,
    task_limits: dict[str, int] | None = None,
    engine_for=None,
) -> dict:
    """Evaluate every model on every task; returns the scores dict (also in ``out/scores.json``).

    ``loader`` (spec -> LoadedModel) defaults to ``fastprune.models.load_model``; tests pass tiny models.
    ``task_limits`` (task name -> N) overrides ``limit`` for those tasks: a study can size each task to
    the difference it must resolve (hundreds of PIQA items, a few dozen perplexity windows).
    ``engine_for(spec, lm, out)`` (optional) is a context manager yielding ``(engine, info)``: that model's
    generation runs on ``engine`` (e.g. a vLLM server, alive only while its model is evaluated) and
    ``info`` is recorded under ``engine`` in run.json.
    """
    if not models:
        raise FastpruneError("give at least one model to evaluate")
    if len(set(models)) != len(models):
        raise FastpruneError("the same model is listed twice; each model is a column of the comparison")
    if limit is not None and limit < 1:
        raise FastpruneError(f"--limit must be >= 1, got {limit}")
    if options is None:
        from fastprune.evaluate.options import options_class

        options = options_class()()
    task_limits = dict(task_limits or {})
    unknown = sorted(set(task_limits) - {t.name for t in tasks})
    if unknown:
        raise FastpruneError(f"--task-limits names {', '.join(unknown)}, which --tasks does not run")
    if any(n < 1 for n in task_limits.values()):
        raise FastpruneError(f"--task-limits must be >= 1, got {task_limits}")
    # Once per run and before any model loads: no OS sandbox means no execution of model-written code.
    sandbox = None
    if any(getattr(t, "runs_code", False) for t in tasks):
        sandbox = require_sandbox(options.allow_unsandboxed_exec)
    out = require_output_dir(out)
    # Nothing is written before the first task finishes (the atomic writes create ``out``), and every
    # model is checked first, so a broken checkpoint leaves no output dir behind.
    if loader is None:
        from fastprune.models import load_model
        from fastprune.models.checkpoint_files import check_model_spec

        for spec in models:
            check_model_spec(spec)

        def loader(spec):
            return load_model(spec, dtype=dtype, device=device, seed=seed)

    scores: dict[str, dict] = {}
    primaries: dict[str, tuple[str, bool]] = {}
    meta = {"models": list(models), "tasks": [t.name for t in tasks], "limit": limit,
            "task_limits": task_limits, "seed": seed,
            "batch_size": batch_size, "dtype": dtype, "device": device,
            "options": {}, "seconds": {},
            "primary": {}, "item_metrics": {}, "provenance": run_provenance(), "sandbox": sandbox}
    # the task options and the rest not recorded above (models, limits, ... are), by their flag names
    meta["options"] = {k: v for k, v in _flat(options_to_mapping(options, yaml_only=False)).items()
                       if k not in meta and k not in ("out", "progress")}
    base_samples: dict[str, list[dict]] = {}  # the first model's records, for the paired comparisons
    comparisons: dict[str, dict] = {}
    servers = contextlib.ExitStack()  # each model's server stops before the next model's starts
    if engine_for is not None:
        meta["engine"] = {}
    for mi, spec in enumerate(models):
        start = time.monotonic()
        loaded = loader(spec)
        lm = EvalModel(loaded, batch_size=batch_size, progress=progress)
        if engine_for is not None:
            engine, meta["engine"][spec] = servers.enter_context(engine_for(spec, lm, out))
            lm.set_engine(engine, meta["engine"][spec])
        meta["seconds"][spec] = {"load": round(time.monotonic() - start, 3)}
        scores[spec] = {}
        model_dir = out / "samples" / f"{mi}_{slug(spec)}"
        for task in tasks:
            logger.info(f"[{spec}] {task.name} ...")
            start = time.monotonic()
            result = task.run(lm, task_limits.get(task.name, limit), seed)
            seconds = time.monotonic() - start
            result.samples = with_ids(result.samples)
            declared = getattr(task, "info", None)
            if declared is not None and declared.chance is not None:  # a constant chance level is declared once
                result.chance.setdefault(result.primary, declared.chance)
            scores[spec][task.name] = {**task_scores(result, seed=seed), "meta": task_meta(task, result)}
            plain = getattr(lm, "plain_chat_prompts", 0)
            if plain:
                # generate and train refuse a chat prompt without a template; a score is still informative,
                # but it is not the chat protocol the task names, so it says so where the number is kept
                lm.plain_chat_prompts = 0
                scores[spec][task.name]["meta"]["chat_prompts"] = PLAIN_CHAT
                logger.warning(f"[{spec}] {task.name}: {plain} chat prompt(s) {PLAIN_CHAT}")
            specs = item_metrics_of(result)
            meta["item_metrics"].setdefault(task.name, {k: spec_to_dict(v) for k, v in specs.items()})
            primaries.setdefault(task.name, (result.primary, result.higher_is_better))
            # Recorded so readers of the output (e.g. the `fastprune run` report) use the task's own choice.
            meta["primary"][task.name] = {"metric": primaries[task.name][0],
                                          "higher_is_better": primaries[task.name][1]}
            meta["seconds"][spec][task.name] = round(seconds, 3)
            atomic_write_text(model_dir / f"{slug(task.name)}.jsonl", _jsonl(result.samples))
            if mi == 0:
                base_samples[task.name] = result.samples
            elif task.name in base_samples and result.primary in specs:
                comparisons.setdefault(spec, {})[task.name] = compare_samples(
                    base_samples[task.name], result.samples, specs[result.primary], result.higher_is_better,
                    seed=seed, where=f"{spec} {task.name}")
                atomic_write_json(out / "comparison.json", {
                    "base": models[0], "provenance": meta["provenance"],
                    "comparisons": {m: {t: c.as_dict() for t, c in by.items()} for m, by in comparisons.items()}})
            atomic_write_json(out / "scores.json", scores)
            atomic_write_json(out / "run.json", meta)
            primary = result.metrics.get(result.primary, float("nan"))
            logger.info(f"[{spec}] {task.name}: {result.primary}={primary:.4f} n={result.n} ({seconds:.1f}s)")
        del lm, loaded
        servers.close()
        gc.collect()
    table = format_table(scores, primaries_of(scores), comparisons)
    if sandbox == "none":
        table += f"\n{UNSANDBOXED_WARNING}"
    atomic_write_text(out / "table.txt", table + "\n")
    log(table)
    return scores
