"""Run the benchmark grid over models (and in-memory pruned variants) and write bench.json + speedup.png."""

from __future__ import annotations

import gc
import platform
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from fastprune.bench.ideal import ideals
from fastprune.bench.measure import (
    BenchPoint,
    engine_generate_fn,
    hf_generate_fn,
    measure_samples,
    random_prompts,
    summarize_point,
)
from fastprune.bench.timing import peak_memory, reset_peak_memory
from fastprune.errors import FastpruneError
from fastprune.models import LoadedModel, load_model, model_info, resolve_device
from fastprune.utils_io import atomic_write_json, require_output_dir


@dataclass
class BenchSettings:
    models: list[str]
    batch_sizes: list[int] = field(default_factory=lambda: [1, 8])
    prompt_len: int = 128
    new_tokens: int = 32
    drop_layers: list[int] = field(default_factory=list)
    warmup: int = 1
    repeats: int = 3
    rounds: int = 1
    compare_hf: bool = False
    engine: bool = True
    dtype: str = "auto"
    device: str = "auto"
    seed: int = 0
    out: str | None = None

    def validate(self) -> None:
        if not self.models:
            raise FastpruneError("bench needs at least one model")
        if self.prompt_len < 1 or self.new_tokens < 2:
            raise FastpruneError("bench needs --prompt-len >= 1 and --new-tokens >= 2 (decode is timed as a "
                                 "difference between N and 1 new tokens)")
        if self.repeats < 1 or self.rounds < 1 or self.warmup < 0 or not self.batch_sizes \
                or min(self.batch_sizes) < 1:
            raise FastpruneError("bench needs --repeats >= 1, --rounds >= 1, --warmup >= 0 and batch sizes >= 1")
        if not (self.engine or self.compare_hf):
            raise FastpruneError("nothing to measure: --no-engine without --compare-hf")
        from fastprune.models.checkpoint_files import check_model_spec

        if self.out:
            require_output_dir(self.out)

        for spec in self.models:  # a broken second checkpoint fails now, not after the first is measured
            check_model_spec(spec)


def _variants(settings: BenchSettings, device) -> Iterator[tuple[str, LoadedModel]]:
    """The first model, its in-memory reverse-pruned variants (cumulative, no copies), then the others."""
    from fastprune.prune.surgery import prune_model

    first = load_model(settings.models[0], dtype=settings.dtype, device=device, seed=settings.seed)
    total = first.adapter.num_layers
    yield settings.models[0], first
    original = list(range(total))  # original index of each current layer
    for n in sorted(set(settings.drop_layers) - {0}):
        if n >= total - 1:
            raise FastpruneError(f"--drop-layers {n}: {settings.models[0]} has only {total} layers; keep at "
                                 "least the first and the last")
        wanted = set(range(total - 1 - n, total - 1))  # the n layers before the final one
        remove_now = [i for i, orig in enumerate(original) if orig in wanted]
        prune_model(first, remove_now, strategy="reverse")
        original = [orig for orig in original if orig not in wanted]
        yield f"{settings.models[0]} -{n} layers", first
    del first
    for spec in settings.models[1:]:
        loaded = load_model(spec, dtype=settings.dtype, device=device, seed=settings.seed)
        yield spec, loaded
        del loaded
        gc.collect()


def _special_ids(tokenizer) -> set[int]:
    if tokenizer is None:
        return set()
    return {int(t) for t in (tokenizer.eos_token_id, tokenizer.pad_token_id, tokenizer.bos_token_id) if t is not None}


def _device_name(device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def run_bench(settings: BenchSettings) -> dict:
    """Measure every (model, batch size, backend) point; return and write the result document.

    With ``rounds`` > 1 the whole grid runs that many times (models reloaded and re-pruned each round) and
    each point pools its samples over the rounds: on a shared machine whose speed drifts, every variant
    then sees the same slow and fast periods instead of one variant getting all of a slow one.
    """
    from fastprune import __version__

    settings.validate()
    device = resolve_device(settings.device)
    points: dict[tuple, dict] = {}  # (label, batch, backend) -> row fields and pooled samples, in first-seen order
    base_info = None
    for round_index in range(settings.rounds):
        for label, loaded in _variants(settings, device):
            info = model_info(loaded)
            if base_info is None:
                base_info = info
            vocab = info["vocab_size"] or loaded.model.config.vocab_size
            for batch in settings.batch_sizes:
                point = BenchPoint(batch, settings.prompt_len, settings.new_tokens)
                prompts = random_prompts(point, vocab, settings.seed, _special_ids(loaded.tokenizer))
                backends = (["engine"] if settings.engine else []) + (["hf"] if settings.compare_hf else [])
                for backend in backends:
                    fn = (engine_generate_fn(loaded.model, loaded.tokenizer, prompts, batch) if backend == "engine"
                          else hf_generate_fn(loaded.model, prompts))
                    tag = f" | round {round_index + 1}/{settings.rounds}" if settings.rounds > 1 else ""
                    print(f"bench: {label} | {backend} | batch {batch}{tag}", file=sys.stderr, flush=True)
                    reset_peak_memory(device)
                    ttft, total = measure_samples(fn, point, device, settings.warmup, settings.repeats)
                    entry = points.setdefault((label, batch, backend), {
                        "fields": {"model": label, "num_layers": info["num_layers"], "backend": backend,
                                   **asdict(point), "dtype": info["dtype"],
                                   "weight_bytes_per_step": info["bytes"]["read_per_step"],
                                   **ideals(base_info, info, loaded.model.config, loaded.dtype)},
                        "point": point, "ttft": [], "total": [], "memory": [],
                    })
                    entry["ttft"] += ttft
                    entry["total"] += total
                    entry["memory"].append(peak_memory(device))
    rows = []
    for entry in points.values():
        memory = {key: max((m[key] for m in entry["memory"] if m[key] is not None), default=None)
                  for key in entry["memory"][0]}
        rows.append({**entry["fields"], **summarize_point(entry["ttft"], entry["total"], entry["point"]),
                     "rounds": settings.rounds, **memory})
    _add_speedups(rows)
    doc = {
        "device": _device_name(device),
        "torch": torch.__version__,
        "fastprune": __version__,
        "settings": asdict(settings),
        "rows": rows,
    }
    if settings.out:
        out = Path(settings.out)
        atomic_write_json(out / "bench.json", doc)
        from fastprune.bench.plot import plot_speedup

        plot_speedup(rows, out / "speedup.png")
    print(format_table(rows))
    return doc


def _add_speedups(rows: list[dict]) -> None:
    base = {}
    for row in rows:
        key = (row["backend"], row["batch_size"])
        base.setdefault(key, row)
        ref = base[key]
        row["speedup_prefill"] = ref["prefill_s"]["median"] / row["prefill_s"]["median"]
        row["speedup_decode"] = ref["decode_step_s"]["median"] / row["decode_step_s"]["median"]
        row["decode_vs_ideal_bytes"] = row["speedup_decode"] / row["ideal_bytes"]
    by_point = {(r["model"], r["batch_size"], r["backend"]): r for r in rows}
    for row in rows:
        hf = by_point.get((row["model"], row["batch_size"], "hf"))
        if row["backend"] == "engine" and hf is not None:
            row["engine_vs_hf_decode"] = hf["decode_step_s"]["median"] / row["decode_step_s"]["median"]


def format_table(rows: list[dict]) -> str:
    head = (f"{'model':<34} {'L':>3} {'backend':<7} {'batch':>5} {'TTFT ms':>9} {'ms/step':>8} {'tok/s':>8} "
            f"{'x prefill':>9} {'x decode':>9} {'ideal L':>8} {'ideal S*':>8}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['model'][:34]:<34} {r['num_layers']:>3} {r['backend']:<7} {r['batch_size']:>5} "
            f"{r['prefill_s']['median'] * 1e3:>9.1f} {r['decode_step_s']['median'] * 1e3:>8.1f} "
            f"{r['decode_tokens_per_s']:>8.1f} {r['speedup_prefill']:>9.3f} {r['speedup_decode']:>9.3f} "
            f"{r['ideal_layers']:>8.3f} {r['ideal_bytes']:>8.3f}"
        )
    return "\n".join(lines)
