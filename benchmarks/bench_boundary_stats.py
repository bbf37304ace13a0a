"""Benchmark ``fastprune.ops.boundary_stats`` across backends and sizes; writes long-format JSON.

    python benchmarks/bench_boundary_stats.py                 # default sweep for this machine
    python benchmarks/bench_boundary_stats.py --quick         # one small size, to check it runs
    python benchmarks/bench_boundary_stats.py --sizes 31x2048x576 --dtypes float32 --reps 7 --threads 1

Each row: backend, K, N, D, dtype, median seconds, achieved GB/s (bytes of hidden read once / time),
speedup over the torch reference, and the max relative error against it. The op is memory-bound in
principle (one pass over K*N*D), so GB/s is the figure to hold against the hardware limit. Triton is
timed on GPUs only (on CPU it would be the interpreter).
"""

from __future__ import annotations

import argparse
import platform
import re
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from fastprune.ops import available_backends, boundary_stats, native_build_info
from fastprune.provenance import run_provenance
from fastprune.utils_io import atomic_write_json

CPU_SIZES = ["7x129x577", "31x512x576", "31x2048x576", "25x1024x2048"]
GPU_SIZES = ["31x2048x576", "31x16384x576", "33x4096x4096", "131x1024x4096"]
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        match = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.MULTILINE)
        if match:
            return match.group(1).strip()
    return platform.processor() or platform.machine()


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_seconds(fn, device: torch.device, warmup: int, reps: int) -> float:
    for _ in range(warmup):
        fn()
    synchronize(device)
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def make_inputs(k: int, n: int, d: int, dtype: torch.dtype, device: torch.device):
    gen = torch.Generator(device=device).manual_seed(0)
    base = torch.randn(n, d, device=device, generator=gen)
    updates = 0.1 * torch.randn(k - 1, n, d, device=device, generator=gen)
    hidden = torch.cat([base[None], base[None] + updates.cumsum(0)]).to(dtype)
    weight = (torch.rand(n, device=device, generator=gen) > 0.1).float()
    return hidden, weight


def max_rel_error(got, want) -> float:
    worst = 0.0
    for a, b in zip(got, want, strict=True):
        scale = b.abs().max().clamp_min(1e-30)
        worst = max(worst, float((a - b).abs().max() / scale))
    return worst


def bench_size(size: str, dtype_name: str, device: torch.device, backends, warmup: int, reps: int) -> list[dict]:
    k, n, d = (int(x) for x in size.split("x"))
    dtype = DTYPES[dtype_name]
    hidden, weight = make_inputs(k, n, d, dtype, device)
    bytes_read = hidden.numel() * hidden.element_size()
    reference = boundary_stats(hidden, weight, backend="torch")
    rows = []
    baseline = None
    for backend in backends:
        seconds = median_seconds(lambda b=backend: boundary_stats(hidden, weight, backend=b), device, warmup, reps)
        if backend == "torch":
            baseline = seconds
        error = max_rel_error(boundary_stats(hidden, weight, backend=backend), reference)
        rows.append(
            {
                "op": "boundary_stats",
                "backend": backend,
                "K": k,
                "N": n,
                "D": d,
                "dtype": dtype_name,
                "median_s": seconds,
                "gb_per_s": bytes_read / seconds / 1e9,
                "speedup_vs_torch": (baseline / seconds) if baseline else None,
                "max_rel_err_vs_torch": error,
            }
        )
        speedup = f"{baseline / seconds:6.2f}x" if baseline else "   n/a"
        print(
            f"{size:>14} {dtype_name:>8} {backend:>7}: {seconds * 1e3:9.3f} ms "
            f"{bytes_read / seconds / 1e9:8.2f} GB/s  speedup {speedup}  rel err {error:.1e}",
            flush=True,
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--sizes", nargs="+", help="KxNxD entries (default: a sweep for the device)")
    parser.add_argument("--dtypes", nargs="+", choices=sorted(DTYPES), help="default: float32 and bfloat16")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (native CPU follows it too)")
    parser.add_argument("--quick", action="store_true", help="one small size, 3 reps: checks that it runs")
    parser.add_argument("--out", type=Path, help="default: benchmarks/results/boundary_stats-<device>.json")
    args = parser.parse_args()

    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    sizes = args.sizes or (GPU_SIZES if device.type == "cuda" else CPU_SIZES)
    dtypes = args.dtypes or ["float32", "bfloat16"]
    if args.quick:
        sizes, dtypes, args.reps = [sizes[0] if args.sizes else "7x129x577"], dtypes[:1], 3
    # The torch reference runs first: it is the baseline for speedups and errors.
    backends = ["torch"] + [b for b in available_backends(device) if b != "torch"]
    if device.type == "cpu":
        backends = [b for b in backends if b != "triton"]

    name = device_name(device)
    print(f"device: {name}  torch {torch.__version__}  threads {torch.get_num_threads()}  backends {backends}")
    rows = []
    for size in sizes:
        for dtype_name in dtypes:
            rows.extend(bench_size(size, dtype_name, device, backends, args.warmup, args.reps))

    out = args.out or Path(__file__).parent / "results" / f"boundary_stats-{slug(name) or device.type}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "device": device.type,
        "device_name": name,
        "torch_version": torch.__version__,
        "cuda_version": torch.version.cuda,
        "threads": torch.get_num_threads(),
        "native": native_build_info(),
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    try:
        import triton

        meta["triton_version"] = triton.__version__
    except ImportError:
        meta["triton_version"] = None
    atomic_write_json(out, {"meta": meta, "rows": rows, "provenance": run_provenance(threads=torch.get_num_threads())})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
