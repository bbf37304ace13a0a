"""How many CPU threads fastprune computes with, and how idle OpenMP threads wait: decided once, here.

torch's intra-op pool and the native kernels (``fastprune._native_cpu``) share one OpenMP runtime (the
libgomp torch bundles; the native module resolves to it because torch loads first) and one thread count:
every native call passes ``torch.get_num_threads()``. Each parallel region ends in a barrier, and a decode
step is ~150 of them. On a machine shared with other CPU-heavy processes one of our threads is often
descheduled, so every region waits for it while the others spin through their time slice: measured here
(benchmarks/bench_shared_machine.py, README), two spinning threads decoded 7-14x slower than one thread or
two passively waiting ones at load ~20, and with a single co-tenant a lone thread was 2.5x faster than two
passive ones and 8-27x faster than two spinning ones. Hence the two defaults:

- threads (``auto``): the cores this process may use (affinity mask, cgroup CPU quota) minus the other
  tasks runnable at start-up, at least 1. With one co-tenant on two cores a single thread keeps its own
  core and never waits at a barrier for a thread that shares one. ``fastprune --threads N``, the run
  config's ``threads``, or ``OMP_NUM_THREADS`` override it, in that order.
- ``OMP_WAIT_POLICY=PASSIVE`` unless the user set a wait policy: a waiting thread sleeps instead of
  spinning. The runtime reads it once, when it initialises (at ``import torch``), so ``prepare_openmp``
  must run before that: ``import fastprune`` calls it, so it holds wherever fastprune is imported first
  (the CLI always is).
"""

from __future__ import annotations

import math
import os
import statistics
import sys
import time
from pathlib import Path

from fastprune.errors import FastpruneError

# Environment the OpenMP runtime reads at start-up; a value the user set is never replaced.
WAIT_POLICY_DEFAULTS = {"OMP_WAIT_POLICY": "PASSIVE"}


def usable_cores() -> int:
    """CPUs this process may run on: its affinity mask, capped by a cgroup v2 CPU quota (containers)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    quota = _cgroup_cpu_quota()
    if quota is not None:
        cores = min(cores, max(1, math.ceil(quota)))
    return max(1, cores)


def _cgroup_cpu_quota(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    try:
        fields = (root / "cpu.max").read_text().split()
    except OSError:
        return None
    if len(fields) != 2 or fields[0] == "max":
        return None
    try:
        return int(fields[0]) / int(fields[1])
    except (ValueError, ZeroDivisionError):
        return None


def runnable_others(samples: int = 9, interval_s: float = 0.003, path: Path = Path("/proc/loadavg")) -> int:
    """Tasks other than this one that want a CPU right now: the median over a few reads of the kernel's
    instantaneous runnable count (``/proc/loadavg``'s 4th field, which counts the reader too); 0 where
    unreadable. Not the 1-minute average: that still holds the load of the command that ran just before."""
    counts = []
    for i in range(samples):
        try:
            counts.append(int(path.read_text().split()[3].split("/")[0]) - 1)
        except (OSError, IndexError, ValueError):
            return 0
        if i + 1 < samples:
            time.sleep(interval_s)
    return max(0, statistics.median_low(counts))


def auto_threads(cores: int | None = None, others: int | None = None) -> int:
    """The default: the usable cores that no other runnable task wants, at least 1."""
    cores = usable_cores() if cores is None else cores
    others = runnable_others() if others is None else others
    return max(1, min(cores, cores - others))


def parse_threads(value: str | int | None, where: str = "--threads") -> int | None:
    """A positive int, or None for ``auto``/unset; anything else is a FastpruneError naming ``where``."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "auto")):
        return None
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit() or int(text) < 1:
        raise FastpruneError(f"{where} must be a positive integer or 'auto', got {value!r}")
    return int(text)


def resolve_threads(requested: int | None = None) -> tuple[int, str]:
    """(threads, where the number came from): the request, else OMP_NUM_THREADS, else ``auto_threads()``."""
    if requested is not None:
        return requested, "requested"
    env = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if env:
        return parse_threads(env, "OMP_NUM_THREADS") or auto_threads(), "OMP_NUM_THREADS"
    return auto_threads(), "auto"


def prepare_openmp() -> bool:
    """Set the wait policy defaults in the environment; False when torch was imported already (too late
    for this process's runtime, which then keeps what it started with)."""
    for key, value in WAIT_POLICY_DEFAULTS.items():
        os.environ.setdefault(key, value)
    return "torch" not in sys.modules


# (threads, source) of the last apply_threads, for thread_state() and result files.
_applied: tuple[int, str] | None = None


def apply_threads(requested: int | None = None) -> int:
    """Use ``requested`` threads (None: the default) for torch and the native kernels; returns the count."""
    global _applied
    prepare_openmp()
    threads, source = resolve_threads(requested)
    _applied = (threads, source)
    import torch

    torch.set_num_threads(threads)
    native = _native_module()
    if native is not None:
        native.set_num_threads(threads)
    return threads


def _native_module():
    """The CPU module, or None when it is not built or predates the thread bindings (its calls still get
    torch's count as an argument, so only the query is lost)."""
    from fastprune.ops import native

    if not native.availability("cpu"):
        return None
    module = native.require("cpu")
    return module if hasattr(module, "set_num_threads") else None


def thread_state() -> dict:
    """What is in effect now: torch's and the native pool's thread counts, the wait policy, and every
    OpenMP runtime mapped into this process (one is what we want)."""
    import torch

    native = _native_module()
    return {
        "torch": torch.get_num_threads(),
        "native": native.num_threads() if native is not None else None,
        "native_openmp_runtime": native.openmp_runtime() if native is not None else None,
        "openmp_runtimes": openmp_runtimes(),
        "wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "usable_cores": usable_cores(),
        "applied": None if _applied is None else {"threads": _applied[0], "source": _applied[1]},
    }


def openmp_runtimes() -> list[str]:
    """Paths of the OpenMP runtime libraries (libgomp, libomp, libiomp) mapped into this process."""
    try:
        lines = Path("/proc/self/maps").read_text().splitlines()
    except OSError:
        return []
    names = ("libgomp", "libomp", "libiomp")
    found = {line.split()[-1] for line in lines if any(n in line.rsplit("/", 1)[-1] for n in names)}
    return sorted(p for p in found if p.startswith("/"))
