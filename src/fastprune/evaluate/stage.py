"""The evaluate stage in-process: ``run(options)`` is what ``fastprune eval`` and ``fastprune run`` call."""

from __future__ import annotations

from fastprune.errors import FastpruneError


def run(options, loader=None) -> dict:
    """Evaluate ``options.models`` on ``options.tasks`` into ``options.out``; returns the scores.

    ``options`` is an ``EvaluateOptions`` (its ``engine`` group says which engine generates).
    ``loader`` (spec -> LoadedModel) replaces model loading (tests).
    """
    from fastprune.evaluate.registry import make_tasks
    from fastprune.evaluate.runner import run_eval

    if options.out is None:
        raise FastpruneError("--out is required: the folder for scores.json, samples/ and table.txt")
    tasks = make_tasks(options.tasks, options)  # before any model loads: bad names / files fail fast
    engine_for = None
    if options.engine.engine == "vllm":
        from fastprune.evaluate.on_vllm import engine_for as vllm_engine_for
        from fastprune.options import as_namespace

        engine_for = vllm_engine_for(as_namespace(options.engine), options.models)
    from fastprune.engines.vllm_server import stop_servers_started_inside

    with stop_servers_started_inside():  # a task that fails must not leave its model's server running
        return run_eval(
            options.models, tasks, options.out, limit=options.limit, seed=options.seed,
            batch_size=options.batch_size, dtype=options.dtype, device=options.device, options=options,
            loader=loader, progress=options.progress, task_limits=options.task_limits, engine_for=engine_for,
        )
