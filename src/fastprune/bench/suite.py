"""Run the benchmark grid over models (and in-memory pruned variants) and write bench.json + speedup.png.

Every variant of the grid stays loaded (pruned variants are weight-sharing copies), so within each round
repeat ``i`` of every (model, backend) runs back to back before repeat ``i + 1`` of any: a shared machine's
drift then hits all variants alike, and the paired bootstrap of ``fastprune.bench.stats`` can use it.
"""

from __future__ import annotations

import gc
import logging
import platform
from dataclasses import asdict
from pathlib import Path

import torch

from fastprune.bench.compare import add_speedups, format_table
from fastprune.bench.ideal import ideals
from fastprune.bench.measure import (
    HF_BACKEND,
    HF_VARIANTS,
    BenchPoint,
    engine_generate_fn,
    hf_generate_fn,
    one_sample,
    random_prompts,
    shared_weight_copy,
    special_ids,
    summarize_point,
    warm_up,
)
from fastprune.bench.options import BenchOptions
from fastprune.bench.timing import peak_memory, reset_peak_memory
from fastprune.errors import FastpruneError
from fastprune.models import LoadedModel, load_model, model_info, resolve_device
from fastprune.options import options_to_mapping
from fastprune.provenance import machine_noise, noise_snapshot, run_provenance
from fastprune.utils_io import atomic_write_json, require_output_dir

logger = logging.getLogger(__name__)


def check_bench_options(o: BenchOptions) -> None:
    """Refuse a grid that cannot be measured, before any model loads."""
    if not o.models:
        raise FastpruneError("bench needs at least one model")
    if o.prompt_len < 1 or o.new_tokens < 2:
        raise FastpruneError("bench needs --prompt-len >= 1 and --new-tokens >= 2 (decode is timed as a "
                             "difference between N and 1 new tokens)")
    if o.repeats < 1 or o.rounds < 1 or o.warmup < 0 or not o.batch_sizes or min(o.batch_sizes) < 1:
        raise FastpruneError("bench needs --repeats >= 1, --rounds >= 1, --warmup >= 0 and batch sizes >= 1")
    if any(n < 0 for n in o.drop_layers):
        raise FastpruneError(f"--drop-layers: expected non-negative integers, got {o.drop_layers}")
    if o.no_engine and not o.compare_hf:
        raise FastpruneError("nothing to measure: --no-engine without --compare-hf")
    unknown = [v for v in o.hf_variants if v not in HF_VARIANTS]
    if unknown or (o.compare_hf and not o.hf_variants):
        raise FastpruneError(f"--hf-variants {','.join(o.hf_variants)!r}: choose from {', '.join(HF_VARIANTS)}")
    if o.max_interval_width <= 0 or o.max_cv <= 0:
        raise FastpruneError("bench needs --max-interval-width > 0 and --max-cv > 0")
    from fastprune.models.checkpoint_files import check_model_spec

    if o.out:
        require_output_dir(o.out)
    for spec in o.models:  # a broken second checkpoint fails now, not after the first is measured
        check_model_spec(spec)


def _variants(settings: BenchOptions, device) -> list[tuple[str, LoadedModel]]:
    """The first model, its in-memory reverse-pruned variants (weight-sharing copies), then the others."""
    from fastprune.models.surgery import prune_model

    first = load_model(settings.models[0], dtype=settings.load.dtype, device=device, seed=settings.load.seed)
    total = first.adapter.num_layers
    out = [(settings.models[0], first)]
    for n in sorted(set(settings.drop_layers) - {0}):
        if n >= total - 1:
            raise FastpruneError(f"--drop-layers {n}: {settings.models[0]} has only {total} layers; keep at "
                                 "least the first and the last")
        copy = LoadedModel(shared_weight_copy(first.model), first.tokenizer, first.spec, path=first.path)
        prune_model(copy, list(range(total - 1 - n, total - 1)), strategy="reverse")  # n before the final one
        out.append((f"{settings.models[0]} -{n} layers", copy))
    for spec in settings.models[1:]:
        out.append((spec, load_model(spec, dtype=settings.load.dtype, device=device, seed=settings.load.seed)))
    return out


def _device_name(device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def _backends(settings: BenchOptions) -> list[str]:
    hf = [HF_BACKEND[v] for v in settings.hf_variants] if settings.compare_hf else []
    return ([] if settings.no_engine else ["engine"]) + hf


def _runner(backend: str, loaded: LoadedModel, prompts, point: BenchPoint):
    if backend == "engine":
        return engine_generate_fn(loaded.model, loaded.tokenizer, prompts, point.batch_size, point.new_tokens)
    variant = next(v for v, name in HF_BACKEND.items() if name == backend)
    return hf_generate_fn(loaded.model, prompts, variant)


def run_bench(settings: BenchOptions) -> dict:
    """Measure every (model, batch size, backend) point; return and write the result document.

    Each of ``rounds`` passes over the batch sizes takes ``repeats`` interleaved samples of every
    (model, backend); samples pool over the rounds. A runner that fails to warm up (e.g. ``torch.compile``
    without a working compiler) becomes a row with ``error`` instead of stopping the others.
    """
    from fastprune import __version__

    check_bench_options(settings)
    device = resolve_device(settings.load.device)
    threads = torch.get_num_threads()
    start = noise_snapshot()
    variants = _variants(settings, device)
    infos = [model_info(loaded) for _, loaded in variants]
    points: dict[tuple, dict] = {}  # (label, batch, backend) -> row fields and pooled samples, in grid order
    errors = []
    round_loads = []
    for round_index in range(settings.rounds):
        tag = f" | round {round_index + 1}/{settings.rounds}" if settings.rounds > 1 else ""
        for batch in settings.batch_sizes:
            point = BenchPoint(batch, settings.prompt_len, settings.new_tokens)
            live = []
            for (label, loaded), info in zip(variants, infos, strict=True):
                prompts = random_prompts(point, info["vocab_size"] or loaded.model.config.vocab_size,
                                         settings.load.seed, special_ids(loaded.tokenizer))
                for backend in _backends(settings):
                    key = (label, batch, backend)
                    entry = points.setdefault(key, {
                        "fields": {"model": label, "num_layers": info["num_layers"], "backend": backend,
                                   **asdict(point), "dtype": info["dtype"], "padded_token_share": 0.0,
                                   "weight_bytes_per_step": info["bytes"]["read_per_step"],
                                   **ideals(infos[0], info, loaded.model.config, loaded.dtype)},
                        "point": point, "ttft": [], "total": [], "memory": [], "warmup_s": [],
                    })
                    if "error" in entry:
                        continue
                    logger.info(f"bench: {label} | {backend} | batch {batch}{tag} | warm-up")
                    reset_peak_memory(device)
                    try:
                        fn = _runner(backend, loaded, prompts, point)
                        rounds = max(settings.warmup, 1) if backend == "hf-compile" else settings.warmup
                        entry["warmup_s"].append(warm_up(fn, point, device, rounds))
                    except Exception as exc:  # noqa: BLE001 - one baseline failing must not hide the others
                        entry["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
                        errors.append(f"{label} | {backend} | batch {batch}: {entry['error']}")
                        logger.warning(f"bench: {backend} failed: {entry['error']}")
                        continue
                    entry["memory"].append(peak_memory(device))  # this runner alone, over its warm-up
                    live.append((entry, fn))
            logger.info(f"bench: batch {batch}{tag} | {settings.repeats} interleaved repeats of {len(live)} runners")
            for _ in range(settings.repeats):
                for entry, fn in live:
                    ttft, total = one_sample(fn, point, device)
                    entry["ttft"].append(ttft)
                    entry["total"].append(total)
            del live
            gc.collect()
        round_loads.append(noise_snapshot()["load_average"])
    noise = machine_noise(start, noise_snapshot(), cores_in_use=threads)
    busy_rounds = [i + 1 for i, load in enumerate(round_loads) if load is not None and load[0] > threads]
    if busy_rounds and not any("load average" in r for r in noise["reasons"]):
        noise["reasons"].append(f"load average above the {threads} cores in use after round(s) {busy_rounds}")
    rows = []
    for entry in points.values():
        if "error" in entry:
            continue
        memory = {key: max((m[key] for m in entry["memory"] if m[key] is not None), default=None)
                  for key in entry["memory"][0]}
        row = {**entry["fields"], **summarize_point(entry["ttft"], entry["total"], entry["point"]),
               "rounds": settings.rounds, "warmup_s": sum(entry["warmup_s"]), **memory}
        if row["backend"] == "hf-compile":
            row["compile_s"] = row["warmup_s"]  # warm-up = compiling both shapes + one run of each
        rows.append(row)
    add_speedups(rows, noise["reasons"], settings.max_interval_width, settings.max_cv, settings.load.seed)
    doc = {
        "device": _device_name(device),
        "torch": torch.__version__,
        "fastprune": __version__,
        "settings": options_to_mapping(settings, yaml_only=False),
        "provenance": run_provenance(threads=threads),
        "noise": {**noise, "load_by_round": round_loads},
        "failed": errors,
        "rows": rows,
    }
    if settings.out:
        out = Path(settings.out)
        atomic_write_json(out / "bench.json", doc)
        from fastprune.bench.plot import plot_speedup

        plot_speedup(rows, out / "speedup.png")
    print(format_table(rows))
    for line in errors:
        print(f"failed: {line}")
    return doc
