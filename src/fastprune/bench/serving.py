"""``fastprune bench BASE PRUNED... --engine vllm``: what a user serving the pruned model sees.

Each model gets its own vLLM server (started and stopped here). At every concurrency, ``requests``
streamed completions are sent by that many closed-loop clients; the prompt/answer lengths cycle through
a fixed mix (random token ids, EOS ignored, so every model does the same work). ``rounds`` repeat the
concurrency sweep per model and pool the requests. Results: ``bench_serving.json`` (per point TTFT, TPOT,
latency, throughput with 95% intervals; speedups over the first model with intervals, next to the ideals
of ``bench/ideal.py``), and a table on stdout.
"""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from fastprune.bench.ideal import ideals
from fastprune.bench.measure import random_ids, special_ids
from fastprune.bench.serving_stats import describe, speedups, summarize_point
from fastprune.engines import GenerationRequest, SamplingParams
from fastprune.engines.openai_client import CompletionsClient, completion_payload
from fastprune.engines.vllm_server import ServerOptions, server_threads
from fastprune.engines.vllm_session import server_checkpoint, vllm_session
from fastprune.errors import FastpruneError
from fastprune.utils_io import atomic_write_json, slug

logger = logging.getLogger(__name__)


@dataclass
class ServingSettings:
    """The serving grid as measured (the mix parsed); built from ``BenchOptions``, whose defaults are the
    only ones, by ``fastprune bench --engine vllm``."""

    models: list[str]
    concurrencies: list[int]
    mix: list[tuple[int, int]]  # (prompt, answer) tokens, cycled through
    requests: int  # per concurrency and round
    rounds: int
    warmup: int
    seed: int
    out: str | None

    def validate(self) -> None:
        if not self.models:
            raise FastpruneError("bench needs at least one model")
        if not self.concurrencies or min(self.concurrencies) < 1:
            raise FastpruneError(f"--concurrency values must be >= 1, got {self.concurrencies}")
        if not self.mix or min(min(p, n) for p, n in self.mix) < 1 or min(n for _, n in self.mix) < 2:
            raise FastpruneError(f"--mix needs PROMPT:ANSWER pairs with prompt >= 1 and answer >= 2, got {self.mix}")
        if self.requests < 2 or self.rounds < 1 or self.warmup < 0:
            raise FastpruneError("--serving-requests must be >= 2, --rounds >= 1 and --warmup >= 0")


def parse_mix(text: str) -> list[tuple[int, int]]:
    try:
        pairs = [tuple(int(x) for x in part.split(":")) for part in text.split(",") if part.strip()]
    except ValueError:
        pairs = []
    if not pairs or any(len(p) != 2 for p in pairs):
        raise FastpruneError(f"--mix must look like 128:32,512:64 (prompt:answer tokens), got {text!r}")
    return [(int(p), int(n)) for p, n in pairs]


def request_set(settings: ServingSettings, count: int, vocab: int, avoid: set[int], offset: int) -> list:
    """``count`` requests cycling through the mix; token ids fixed by the seed, the same for every model."""
    import torch

    gen = torch.Generator().manual_seed(settings.seed + offset)
    out = []
    for i in range(count):
        prompt_len, answer = settings.mix[i % len(settings.mix)]
        ids = random_ids((prompt_len,), vocab, gen, avoid)
        out.append(GenerationRequest(ids.tolist(), SamplingParams(max_new_tokens=answer, ignore_eos=True),
                                     id=str(i)))
    return out


def run_point(url: str, model: str, requests: list, concurrency: int) -> tuple[list, float]:
    """Send ``requests`` with ``concurrency`` closed-loop clients; (timings in request order, wall seconds)."""
    clients = [CompletionsClient(url) for _ in range(concurrency)]
    queue = list(enumerate(requests))
    results: list = [None] * len(requests)

    def client_loop(client):
        while queue:
            try:
                index, request = queue.pop(0)
            except IndexError:
                return
            # special tokens as text: a benchmark's random prompts make models emit them
            results[index] = client.stream({**completion_payload(model, request), "skip_special_tokens": False})

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for future in [pool.submit(client_loop, c) for c in clients]:
            future.result()
    wall = time.perf_counter() - start
    for c in clients:
        c.close()
    return results, wall


def _loaded_info(spec: str, seed: int):
    from fastprune.models import load_model, model_info

    loaded = load_model(spec, dtype="float32", device="cpu", seed=seed)
    return loaded, model_info(loaded)


def run_serving_bench(settings: ServingSettings, options: ServerOptions, progress: bool = True) -> dict:
    from fastprune.provenance import cpu_times, load_average, run_provenance, steal_share

    settings.validate()
    if settings.out is None:
        raise FastpruneError("bench --engine vllm needs --out")
    out = Path(settings.out)
    out.mkdir(parents=True, exist_ok=True)
    longest = max(p + n for p, n in settings.mix)
    options.max_model_len = max(options.max_model_len or 0, longest)
    doc: dict = {"settings": asdict(settings), "server_options": asdict(options), "models": {}, "points": []}
    timings: dict[tuple[str, int], list] = {}
    records = []
    base_info = base_config = None
    cpu_before, load_before = cpu_times(), load_average()
    for spec in settings.models:
        loaded, info = _loaded_info(spec, settings.seed)
        if base_info is None:
            base_info, base_config = info, loaded.model.config
        vocab = info["vocab_size"] or loaded.model.config.vocab_size
        checkpoint = None if options.url else server_checkpoint(loaded, out)
        entry = {"info": {k: info[k] for k in ("architecture", "num_layers", "bytes") if k in info},
                 "checkpoint": checkpoint,
                 "ideals": ideals(base_info, info, base_config, loaded.dtype)}
        avoid = special_ids(loaded.tokenizer)
        del loaded
        log = out / f"vllm-{slug(spec)}.log"
        with vllm_session(checkpoint, options, log, concurrency=1) as (_, record):
            entry["server"] = record.as_dict()
            records.append(record)
            if settings.warmup:
                run_point(record.url, record.model, request_set(settings, settings.warmup, vocab, avoid, 999), 1)
            for round_ in range(settings.rounds):
                for c in settings.concurrencies:
                    reqs = request_set(settings, settings.requests, vocab, avoid, offset=c)
                    got, wall = run_point(record.url, record.model, reqs, c)
                    timings.setdefault((spec, c), []).extend(got)
                    entry.setdefault("walls", {}).setdefault(str(c), []).append(wall)
                    if progress:
                        logger.info(f"[{spec}] round {round_ + 1}/{settings.rounds} concurrency {c}: "
                                    f"{len(got)} requests in {wall:.1f} s")
        doc["models"][spec] = entry
    base = settings.models[0]
    for spec in settings.models:
        for c in settings.concurrencies:
            wall = sum(doc["models"][spec]["walls"][str(c)])
            point = {"model": spec, **summarize_point(timings[(spec, c)], wall, c, settings.seed)}
            if spec != base:
                ideal = doc["models"][spec]["ideals"]
                point["speedup"] = speedups(timings[(base, c)], timings[(spec, c)], settings.seed)
                point["verdict"] = describe(point["speedup"]["tpot"], ideal["ideal_layers"], ideal["ideal_bytes"])
            doc["points"].append(point)
    steal = steal_share(cpu_before, cpu_times())
    load_after = load_average()
    cores = len(os.sched_getaffinity(0))
    loaded_machine = any(v is not None and v[0] > cores for v in (load_before, load_after))
    threads = server_threads(records[0])
    doc["machine_load"] = {"load_before": load_before, "load_after": load_after, "steal_share": steal,
                           "cores": cores, "loaded": bool(loaded_machine or (steal or 0) > 0.05)}
    doc["provenance"] = run_provenance(threads=threads)
    atomic_write_json(out / "bench_serving.json", doc)
    print(format_table(doc))
    return doc


def format_table(doc: dict) -> str:
    def iv(m, key="median", scale=1000.0, digits=1):
        if m is None:
            return "n/a"
        ci = m.get("ci95")
        v = m[key] * scale
        return f"{v:.{digits}f} [{ci[0] * scale:.{digits}f}-{ci[1] * scale:.{digits}f}]" if ci else f"{v:.{digits}f}"

    lines = [f"{'model':<28} {'conc':>4} {'TTFT ms':>22} {'TPOT ms':>22} {'out tok/s':>20} {'req/s':>18}"]
    for p in doc["points"]:
        lines.append(f"{p['model'][:28]:<28} {p['concurrency']:>4} {iv(p['ttft_s']):>22} {iv(p['tpot_s']):>22} "
                     f"{iv(p['output_tok_s'], 'value', 1.0):>20} {iv(p['request_s'], 'value', 1.0, 2):>18}")
        if "verdict" in p:
            lines.append(f"    {p['verdict']}")
    if doc["machine_load"]["loaded"]:
        load = doc["machine_load"]
        lines.append(f"WARNING: the machine was loaded (load average {load['load_before']} -> {load['load_after']} "
                     f"on {load['cores']} cores, steal {load['steal_share']}); speeds are noisy and low")
    return "\n".join(lines)
