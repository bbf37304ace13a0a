"""Wall-clock measurement that is honest on both CPU and GPU, and robust summaries of repeats."""

from __future__ import annotations

import os
import resource
import statistics
import time
from collections.abc import Callable

import torch


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn: Callable[[], object], device: torch.device) -> float:
    """Seconds one call of ``fn`` takes; on CUDA measured with events after a synchronize."""
    if device.type == "cuda":
        synchronize(device)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def summarize(samples: list[float]) -> dict:
    """Median with the 10th and 90th percentiles (linear interpolation), in the samples' unit."""
    if not samples:
        raise ValueError("no samples to summarize")
    ordered = sorted(samples)

    def pct(q: float) -> float:
        pos = q * (len(ordered) - 1)
        lo = int(pos)
        hi = min(lo + 1, len(ordered) - 1)
        return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)

    return {"median": statistics.median(ordered), "p10": pct(0.1), "p90": pct(0.9), "n": len(ordered)}


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    # Writing 5 to clear_refs resets the kernel's peak-RSS mark (VmHWM) for this process on Linux.
    try:
        with open(f"/proc/{os.getpid()}/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_memory(device: torch.device) -> dict:
    """Peak device memory since the last reset, and peak host RSS (bytes)."""
    host = None
    try:
        with open(f"/proc/{os.getpid()}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    host = int(line.split()[1]) * 1024
    except OSError:
        host = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    dev = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    return {"device_peak_bytes": dev, "host_peak_rss_bytes": host}
