"""Benchmark the decode-step ops on a CPU: ``fused_linears`` (skinny linear) and ``decode_attention``,
native against the torch reference, on the shapes of a real model's decode step; writes JSON.

    python benchmarks/bench_decode_ops.py                          # the embedded model's shapes, 2 threads
    python benchmarks/bench_decode_ops.py --config llama-3.2-1b --rows 1,8 --threads 2
    python benchmarks/bench_decode_ops.py --quick                  # 2 layers, 1 rep: checks it runs

Skinny linear: one "step" is every projection of every layer plus the LM head, each layer's weights
freshly allocated so they stream from memory as in a real step (a model's weights exceed the caches).
Both backends compute the same grouped products (RMSNorm + q/k/v, o, RMSNorm + gate/up, down, head);
the reference runs them as HF's ops do. Reported: ms per step, GB/s of weights read, speedup.
Decode attention: every layer's attention for ``rows`` sequences at ``--kv-len`` cached positions.
State the machine's load when quoting numbers: the JSON records the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from datetime import datetime, timezone
from pathlib import Path

import torch

from fastprune.bench.timing import time_call
from fastprune.models.loader import random_config
from fastprune.ops import native_build_info
from fastprune.ops.decode_attention import decode_attention_native, decode_attention_ref
from fastprune.ops.skinny_linear import Projection, RMSNormSpec, fused_linears_native, fused_linears_ref
from fastprune.provenance import run_provenance
from fastprune.utils_io import atomic_write_json


def layer_weights(cfg, gen):
    h, inter = cfg.hidden_size, cfg.intermediate_size
    hd = getattr(cfg, "head_dim", None) or h // cfg.num_attention_heads
    q, kv = cfg.num_attention_heads * hd, cfg.num_key_value_heads * hd

    def w(n, k):
        return torch.randn(n, k, generator=gen) * k**-0.5

    norm = RMSNormSpec(torch.ones(h), 1e-5)
    return [
        ((Projection(w(q, h)), Projection(w(kv, h)), Projection(w(kv, h))), norm),
        ((Projection(w(h, q)),), None),
        ((Projection(w(inter, h), None, w(inter, h)),), norm),
        ((Projection(w(h, inter)),), None),
    ]


def step_groups(cfg, layers: int):
    gen = torch.Generator().manual_seed(0)
    groups = [g for _ in range(layers) for g in layer_weights(cfg, gen)]
    head = torch.randn(cfg.vocab_size, cfg.hidden_size, generator=gen) * cfg.hidden_size**-0.5
    groups.append(((Projection(head),), RMSNormSpec(torch.ones(cfg.hidden_size), 1e-5)))
    return groups


def weight_bytes(groups) -> int:
    return sum(t.numel() * 4 for projs, _ in groups for p in projs for t in p if t is not None)


def timed(fn, reps: int) -> float:
    """Median seconds of ``reps`` calls after one warm-up call."""
    fn()
    return statistics.median(time_call(fn, torch.device("cpu")) for _ in range(reps))


def bench_linears(groups, rows: int, reps: int) -> dict:
    inputs = {}
    for projs, _ in groups:
        k = projs[0].weight.shape[1]
        inputs.setdefault(k, torch.randn(rows, k))

    def run(fn):
        def step():
            for projs, norm in groups:
                fn(inputs[projs[0].weight.shape[1]], projs, norm)
        return step

    with torch.inference_mode():
        t_ref = timed(run(fused_linears_ref), reps)
        t_nat = timed(run(fused_linears_native), reps)
        # Accuracy on the largest product (the LM head): max |diff| relative to max |ref|.
        projs, norm = groups[-1]
        x = inputs[projs[0].weight.shape[1]]
        want, got = fused_linears_ref(x, projs, norm)[0], fused_linears_native(x, projs, norm)[0]
        rel = float((got - want).abs().max() / want.abs().max())
    nbytes = weight_bytes(groups)
    return {"rows": rows, "torch_ms": 1e3 * t_ref, "native_ms": 1e3 * t_nat, "speedup": t_ref / t_nat,
            "torch_GBps": nbytes / t_ref / 1e9, "native_GBps": nbytes / t_nat / 1e9, "max_rel_error": rel}


def bench_attention(cfg, layers: int, rows: int, kv_len: int, reps: int) -> dict:
    hd = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    heads, kv_heads = cfg.num_attention_heads, cfg.num_key_value_heads
    gen = torch.Generator().manual_seed(1)
    caches = [(torch.randn(rows, kv_heads, kv_len + 1, hd, generator=gen),
               torch.randn(rows, kv_heads, kv_len + 1, hd, generator=gen)) for _ in range(layers)]
    q = torch.randn(rows, heads, hd, generator=gen)
    k = torch.randn(rows, kv_heads, hd, generator=gen)
    v = torch.randn(rows, kv_heads, hd, generator=gen)
    cos, sin = torch.randn(kv_len + 1, hd, generator=gen), torch.randn(kv_len + 1, hd, generator=gen)
    pos = torch.full((rows,), kv_len, dtype=torch.long)
    scale = hd**-0.5

    def run(fn):
        def step():
            for kc, vc in caches:
                fn(q, k, v, kc, vc, pos, cos, sin, scale)
        return step

    with torch.inference_mode():
        t_ref = timed(run(decode_attention_ref), reps)
        t_nat = timed(run(decode_attention_native), reps)
    return {"rows": rows, "kv_len": kv_len, "layers": layers, "torch_ms": 1e3 * t_ref, "native_ms": 1e3 * t_nat,
            "speedup": t_ref / t_nat}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="smollm2-135m", help="a random:NAME config or a config.json path")
    parser.add_argument("--rows", default="1,2,4,8,16,32", help="decode rows (sequences) to time")
    parser.add_argument("--layers", type=int, help="default: the config's layer count")
    parser.add_argument("--kv-len", type=int, default=256)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--threads", type=int, help="torch and kernel threads (default: torch's)")
    parser.add_argument("--quick", action="store_true", help="2 layers, rows 1 and 8, 1 rep")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/decode_ops-cpu.json"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = random_config(args.config)
    layers = 2 if args.quick else (args.layers or cfg.num_hidden_layers)
    rows = [1, 8] if args.quick else [int(r) for r in args.rows.split(",")]
    reps = 1 if args.quick else args.reps
    load_before = os.getloadavg()
    groups = step_groups(cfg, layers)
    linears = []
    for r in rows:
        linears.append(bench_linears(groups, r, reps))
        row = linears[-1]
        print(f"fused_linears rows={r}: torch {row['torch_ms']:.1f} ms ({row['torch_GBps']:.1f} GB/s), native "
              f"{row['native_ms']:.1f} ms ({row['native_GBps']:.1f} GB/s): x{row['speedup']:.2f}", flush=True)
    del groups
    attention = []
    for r in rows:
        attention.append(bench_attention(cfg, layers, r, args.kv_len, reps))
        row = attention[-1]
        print(f"decode_attention rows={r} kv_len={args.kv_len}: torch {row['torch_ms']:.2f} ms, native "
              f"{row['native_ms']:.2f} ms: x{row['speedup']:.2f}", flush=True)
    result = {
        "benchmark": "decode_ops", "config": args.config, "layers": layers, "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(), "torch": torch.__version__, "native": native_build_info()["cpu"],
        "load_average_before": load_before, "load_average_after": os.getloadavg(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "fused_linears": linears, "decode_attention": attention,
        "provenance": run_provenance(threads=torch.get_num_threads()),
    }
    atomic_write_json(args.out, result)
    print(json.dumps({"out": str(args.out)}))


if __name__ == "__main__":
    main()
