"""Calibration throughput against a plain HF forward on the same batches, peak RSS, and the stats kernel.

Three measurements, written as one JSON file:

- ``throughput``: tokens/s of ``fastprune.calibrate.calibrate`` (per-batch wall time from its ``on_batch``
  callback, so it includes reading and tokenising the corpus, the hooks, the statistics and accumulation)
  against, on the same packed batches, a plain HF forward with logits (``model(input_ids=ids)``) and the
  base model without the LM head. Repetitions are interleaved so load from other processes hits every
  variant alike; the first batch of each pass is a warm-up and is not counted; medians are reported.
  The headline is the ratio against the forward *without* the LM head (calibration never computes
  logits), as a paired 95% bootstrap interval over the repetitions with an unreliable flag.
- ``memory``: in a fresh process per corpus size (``--rss-tokens`` x 1, 4, 16: 4k, 16k, 64k tokens by
  default), the peak RSS *after* the model is loaded: the kernel's peak mark (VmHWM) is reset once the
  model is in memory, so the load's own peak cannot hide growth. It must stay flat within 5%.
- ``kernel``: ``boundary_stats`` alone on one batch's ``[L+1, N, D]`` buffer, as achieved GB/s next to a
  same-size ``copy_`` into a preallocated tensor (the memory bandwidth actually available here).

    python benchmarks/bench_calibrate.py                     # embedded SmolLM2-135M, fp32, CPU
    python benchmarks/bench_calibrate.py --model random:llama-3.1-8b --dtype bfloat16 --device cuda \\
        --seq-len 2048 --batch-size 4
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

MEMORY_SIZES = (1, 4, 16)  # corpus sizes of the memory check, in multiples of --rss-tokens
FLAT_WITHIN = 0.05


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="smollm2-135m")
    p.add_argument("--data", default="wikitext2")
    p.add_argument("--dtype", default="float32")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seq-len", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--batches", type=int, default=6, help="batches per timed pass (the first is warm-up)")
    p.add_argument("--reps", type=int, default=3, help="interleaved repetitions of every variant")
    p.add_argument("--rss-tokens", type=int, default=4096,
                   help="smallest corpus of the memory check; also 4x and 16x it (0: skip)")
    p.add_argument("--backend", default=None, help="statistics backend (default: auto)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--out", default="bench_calibrate.json")
    p.add_argument("--child-rss", type=int, default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _config(args, max_tokens: int, progress: bool = False):
    from fastprune.calibrate.runner import CalibrationConfig

    return CalibrationConfig(
        seq_len=args.seq_len,
        batch_size=args.batch_size,
        max_tokens=max_tokens,
        save_every=0,
        backend=args.backend,
        overwrite=True,
        progress=progress,
        plots=False,
    )


def _batches(loaded, source, args, max_tokens: int) -> list[torch.Tensor]:
    from fastprune.data import SequenceStream

    seqs = list(SequenceStream(source, loaded.tokenizer, args.seq_len, max_tokens=max_tokens))
    out = [torch.tensor(seqs[i : i + args.batch_size]) for i in range(0, len(seqs), args.batch_size)]
    if any(b.shape != out[0].shape for b in out):
        raise SystemExit("the corpus is too short for the requested batches; lower --batches")
    return out


def _time_forward(fn, batches, device) -> float:
    """tokens/s over all batches but the first (warm-up)."""
    elapsed = 0.0
    for i, ids in enumerate(batches):
        ids = ids.to(device)
        _sync(device)
        start = time.perf_counter()
        with torch.inference_mode():
            fn(ids)
        _sync(device)
        if i:
            elapsed += time.perf_counter() - start
    return sum(b.numel() for b in batches[1:]) / elapsed


def _time_calibration(loaded, source, args, max_tokens: int, out: Path) -> tuple[float, float]:
    """(tokens/s over batches after the first, wall seconds of the whole call)."""
    from fastprune.calibrate.runner import calibrate

    stamps: list[tuple[float, int]] = []

    def on_batch(batch):
        _sync(loaded.device)
        stamps.append((time.perf_counter(), batch.global_tokens))

    start = time.perf_counter()
    calibrate(loaded, source, _config(args, max_tokens), out, on_batch=on_batch)
    wall = time.perf_counter() - start
    tokens = sum(t for _, t in stamps[1:])
    return tokens / (stamps[-1][0] - stamps[0][0]), wall


def headline(runs: dict[str, list[float]], noise_reasons: list[str]) -> dict:
    """Calibration against the forward without the LM head: a ratio of per-token times with its interval."""
    from fastprune.bench.stats import coefficient_of_variation, ratio_interval, ratio_verdict

    forward = [1 / x for x in runs["hf_forward_without_lm_head"]]
    calib = [1 / x for x in runs["calibration"]]
    ci = ratio_interval(forward, calib)  # > 1: calibration faster; < 1: the statistics cost that share
    return {**ci, "unreliable": ratio_verdict(ci, coefficient_of_variation(forward),
                                              coefficient_of_variation(calib), noise_reasons)}


def throughput(loaded, source, args) -> dict:
    max_tokens = args.batches * args.batch_size * args.seq_len
    batches = _batches(loaded, source, args, max_tokens)
    device = loaded.device
    variants = {
        "hf_forward_with_logits": lambda ids: loaded.model(input_ids=ids, use_cache=False),
        "hf_forward_without_lm_head": lambda ids: loaded.model.base_model(input_ids=ids, use_cache=False),
    }
    runs: dict[str, list[float]] = {k: [] for k in (*variants, "calibration")}
    walls = []
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.reps):
            for name, fn in variants.items():
                runs[name].append(_time_forward(fn, batches, device))
            tok_s, wall = _time_calibration(loaded, source, args, max_tokens, Path(tmp) / f"r{rep}")
            runs["calibration"].append(tok_s)
            walls.append(wall)
            print(
                f"rep {rep}: " + ", ".join(f"{k} {v[-1]:.0f} tok/s" for k, v in runs.items()), file=sys.stderr
            )
    med = {k: statistics.median(v) for k, v in runs.items()}
    return {
        "tokens_per_pass": max_tokens,
        "timed_tokens_per_pass": max_tokens - batches[0].numel(),
        "tokens_per_s": med,
        "tokens_per_s_all_reps": runs,
        "speedup_vs_hf_with_logits": med["calibration"] / med["hf_forward_with_logits"],
        "ratio_vs_hf_without_lm_head": med["calibration"] / med["hf_forward_without_lm_head"],
        "calibration_wall_s_median": statistics.median(walls),
    }


def child_rss(args) -> None:
    """Run in a fresh process: load, reset the peak mark, calibrate ``--child-rss`` tokens, print the peaks."""
    import gc

    from fastprune.bench.timing import peak_memory, reset_peak_memory
    from fastprune.calibrate.runner import calibrate
    from fastprune.data import open_source
    from fastprune.models import load_model

    loaded = load_model(args.model, dtype=args.dtype, device=args.device)
    gc.collect()
    load_peak = peak_memory(loaded.device)
    reset_peak_memory(loaded.device)  # VmHWM := current RSS, so what follows is the peak after loading
    after_load = peak_memory(loaded.device)
    rss_now = next((int(line.split()[1]) * 1024 for line in Path("/proc/self/status").read_text().splitlines()
                    if line.startswith("VmRSS:")), None) if Path("/proc/self/status").exists() else None
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = calibrate(loaded, open_source(args.data), _config(args, args.child_rss), Path(tmp) / "o")
        wall = time.perf_counter() - start
    peak = peak_memory(loaded.device)
    mib = 1 / 2**20
    print(json.dumps({
        "tokens": result["tokens"], "wall_s": wall,
        "load_peak_rss_mib": load_peak["host_peak_rss_bytes"] * mib,
        "post_load_rss_mib": after_load["host_peak_rss_bytes"] * mib,
        "peak_rss_after_load_mib": peak["host_peak_rss_bytes"] * mib,
        "growth_after_load_mib": (peak["host_peak_rss_bytes"] - after_load["host_peak_rss_bytes"]) * mib,
        # the reset is valid only if the peak mark fell to the current RSS (Linux clear_refs); else the load
        # peak still hides in every number and the check cannot see growth
        "peak_reset_valid": rss_now is not None and after_load["host_peak_rss_bytes"] <= rss_now * 1.01,
        "device_peak_after_load_mib": None if peak["device_peak_bytes"] is None
        else peak["device_peak_bytes"] * mib,
    }))


def memory(args) -> dict:
    rows = []
    for tokens in (k * args.rss_tokens for k in MEMORY_SIZES):
        cmd = [
            sys.executable,
            __file__,
            "--child-rss",
            str(tokens),
            "--model",
            args.model,
            "--data",
            args.data,
            "--dtype",
            args.dtype,
            "--device",
            args.device,
            "--seq-len",
            str(args.seq_len),
            "--batch-size",
            str(args.batch_size),
        ]
        if args.backend:
            cmd += ["--backend", args.backend]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode:
            raise SystemExit(f"RSS child failed:\n{proc.stderr[-2000:]}")
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(f"rss: {rows[-1]}", file=sys.stderr)
    key = "device_peak_after_load_mib" if rows[0]["device_peak_after_load_mib"] is not None \
        else "peak_rss_after_load_mib"
    peaks = [r[key] for r in rows]
    spread = max(peaks) / min(peaks) - 1
    valid = key == "device_peak_after_load_mib" or all(r["peak_reset_valid"] for r in rows)
    return {"runs": rows, "compared": key, "spread": spread, "flat_within": FLAT_WITHIN,
            "flat": spread <= FLAT_WITHIN if valid else None,
            "note": None if valid else "the peak-RSS mark could not be reset after loading: no verdict"}


def kernel(loaded, args) -> dict:
    from fastprune.calibrate.accumulators import boundary_stats, resolve_stats_backend

    device = loaded.device
    k = loaded.adapter.num_layers + 1
    n = args.batch_size * args.seq_len
    d = int(loaded.adapter.text_config.hidden_size)
    hidden = torch.randn(k, n, d, device=device).to(loaded.dtype)
    weight = torch.ones(n, device=device)
    backend = resolve_stats_backend(device, args.backend)

    def best(fn, reps=5):
        times = []
        for _ in range(reps):
            _sync(device)
            start = time.perf_counter()
            fn()
            _sync(device)
            times.append(time.perf_counter() - start)
        return min(times[1:])

    t_stats = best(lambda: boundary_stats(hidden, weight, backend))
    copy_dst = torch.empty_like(hidden)  # preallocated: an allocation per call would be timed too
    t_copy = best(lambda: copy_dst.copy_(hidden))
    nbytes = hidden.numel() * hidden.element_size()
    stats_gbs, copy_gbs = nbytes / t_stats / 1e9, 2 * nbytes / t_copy / 1e9  # a copy reads and writes
    return {
        "shape": [k, n, d],
        "dtype": str(loaded.dtype),
        "backend": backend,
        "seconds": t_stats,
        "gb_per_s": stats_gbs,
        "copy_gb_per_s": copy_gbs,
        "fraction_of_copy_bandwidth": stats_gbs / copy_gbs,
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child_rss is not None:
        child_rss(args)
        return 0
    from fastprune.data import open_source
    from fastprune.models import load_model
    from fastprune.provenance import machine_noise, noise_snapshot, run_provenance
    from fastprune.utils_io import atomic_write_json

    before = noise_snapshot()
    loaded = load_model(args.model, dtype=args.dtype, device=args.device)
    source = open_source(args.data)
    result = {
        "benchmark": "calibrate",
        "model": args.model,
        "dtype": args.dtype,
        "device": str(loaded.device),
        "device_name": torch.cuda.get_device_name(loaded.device)
        if loaded.device.type == "cuda"
        else platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "settings": {
            "data": args.data,
            "seq_len": args.seq_len,
            "batch_size": args.batch_size,
            "batches": args.batches,
            "reps": args.reps,
        },
        "note": "variants interleaved per repetition; medians reported; see noise for the machine's load",
        "throughput": throughput(loaded, source, args),
        "kernel": kernel(loaded, args),
    }
    result["noise"] = machine_noise(before, noise_snapshot(), cores_in_use=torch.get_num_threads())
    result["headline_vs_forward_without_lm_head"] = headline(result["throughput"]["tokens_per_s_all_reps"],
                                                             result["noise"]["reasons"])
    if args.rss_tokens:
        result["memory"] = memory(args)
    result["provenance"] = run_provenance(threads=torch.get_num_threads())
    atomic_write_json(args.out, result)
    h = result["headline_vs_forward_without_lm_head"]
    print(json.dumps({k: result[k] for k in ("throughput", "kernel", "headline_vs_forward_without_lm_head")},
                     indent=1))
    print(f"calibration vs forward without LM head: x{h['value']:.3f} [{h['low']}, {h['high']}] (n={h['n']})"
          + (f" UNRELIABLE: {'; '.join(h['unreliable'])}" if h["unreliable"] else ""), file=sys.stderr)
    if "memory" in result:
        m = result["memory"]
        verdict = {True: "flat", False: "NOT flat", None: "no verdict"}[m["flat"]]
        print(f"memory after load ({m['compared']}): spread {100 * m['spread']:.1f}% over "
              f"{[r['tokens'] for r in m['runs']]} tokens: {verdict} within 5%",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
