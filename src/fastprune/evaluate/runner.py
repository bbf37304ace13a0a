"""Run tasks over models: load each model once, run every task, write samples and scores as they finish.

Layout of ``out``: ``scores.json`` (``{model: {task: {metric: value, "n": count}}}``), ``run.json``
(arguments, versions, seconds per task) and ``samples/<model>/<task>.jsonl`` (one record per sample:
prompt, generation, extracted answer, correct, ...). Each file is written atomically after every task,
so an interrupted run keeps what it finished.
"""

from __future__ import annotations

import contextlib
import gc
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from fastprune.errors import FastpruneError
from fastprune.evaluate.lm import EvalModel
from fastprune.evaluate.report import format_table, slug, task_scores
from fastprune.evaluate.task import EvalOptions, Task
from fastprune.utils_io import atomic_write_json, atomic_write_text


def _jsonl(records: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in records)


def run_eval(
    models: Sequence[str],
    tasks: Sequence[Task],
    out: str | Path,
    limit: int | None = None,
    seed: int = 0,
    batch_size: int = 8,
    dtype: str = "auto",
    device: str = "cpu",
    options: EvalOptions | None = None,
    loader=None,
    progress: bool = True,
    log=print,
    engine_for=None,
) -> dict:
    """Evaluate every model on every task; returns the scores dict (also in ``out/scores.json``).

    ``loader`` (spec -> LoadedModel) defaults to ``fastprune.models.load_model``; tests pass tiny models.
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
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if loader is None:
        from fastprune.models import load_model

        def loader(spec):
            return load_model(spec, dtype=dtype, device=device, seed=seed)

    scores: dict[str, dict] = {}
    primaries: dict[str, tuple[str, bool]] = {}
    meta = {"models": list(models), "tasks": [t.name for t in tasks], "limit": limit, "seed": seed,
            "batch_size": batch_size, "dtype": dtype, "device": device,
            "options": {k: str(v) for k, v in asdict(options or EvalOptions()).items()}, "seconds": {},
            "primary": {}}
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
            log(f"[{spec}] {task.name} ...", file=sys.stderr)
            start = time.monotonic()
            result = task.run(lm, limit, seed)
            seconds = time.monotonic() - start
            scores[spec][task.name] = task_scores(result)
            primaries.setdefault(task.name, (result.primary, result.higher_is_better))
            # Recorded so readers of the output (e.g. the `fastprune run` report) use the task's own choice.
            meta["primary"][task.name] = {"metric": primaries[task.name][0],
                                          "higher_is_better": primaries[task.name][1]}
            meta["seconds"][spec][task.name] = round(seconds, 3)
            atomic_write_text(model_dir / f"{slug(task.name)}.jsonl", _jsonl(result.samples))
            atomic_write_json(out / "scores.json", scores)
            atomic_write_json(out / "run.json", meta)
            primary = result.metrics.get(result.primary, float("nan"))
            log(f"[{spec}] {task.name}: {result.primary}={primary:.4f} n={result.n} ({seconds:.1f}s)",
                file=sys.stderr)
        del lm, loaded
        servers.close()
        gc.collect()
    table = format_table(scores, primaries)
    atomic_write_text(out / "table.txt", table + "\n")
    log(table)
    return scores
