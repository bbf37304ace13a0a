"""Where a result came from: code version, machine, threads, load and library versions.

Every result JSON (benchmarks, bench, eval, calibration) records ``run_provenance()`` so a number can be
traced to the commit, the machine and the conditions it was measured under. One definition here, used by
every writer.
"""

from __future__ import annotations

import datetime
import functools
import os
import platform
import socket
import subprocess
from importlib import metadata
from pathlib import Path

_PACKAGES = ("torch", "transformers", "triton", "peft", "datasets", "accelerate", "numpy")


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def code_version(start: Path | None = None) -> dict:
    """{"commit": sha or None, "dirty": bool or None}: the git state of the checkout fastprune runs from.

    Outside a git checkout (an installed wheel) both are None rather than a guess.
    """
    here = Path(start) if start is not None else Path(__file__).resolve().parent
    commit = _git(["rev-parse", "HEAD"], here)
    if commit is None:
        return {"commit": None, "dirty": None}
    status = _git(["status", "--porcelain", "--untracked-files=no"], here)
    return {"commit": commit, "dirty": None if status is None else bool(status)}


@functools.cache
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_times() -> dict[str, int] | None:
    """Aggregate CPU jiffies from /proc/stat (user, system, idle, steal, ...); None where unreadable."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    names = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
    return {name: int(value) for name, value in zip(names, first[1:], strict=False)}


def steal_share(before: dict[str, int] | None, after: dict[str, int] | None) -> float | None:
    """Share of CPU time stolen by the hypervisor between two ``cpu_times()`` snapshots."""
    if not before or not after or "steal" not in before or "steal" not in after:
        return None
    total = sum(after.values()) - sum(before.values())
    return (after["steal"] - before["steal"]) / total if total > 0 else None


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in ("fastprune", *_PACKAGES):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def run_provenance(threads: int | None = None) -> dict:
    """The record every result file carries. ``threads``: the compute threads the measurement used."""
    if threads is None:
        try:
            import torch

            threads = torch.get_num_threads()
        except ImportError:
            threads = None
    return {
        **code_version(),
        "time_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "machine": platform.machine(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "threads": threads,
        "load_average": load_average(),
        "versions": versions(),
    }


def noise_snapshot() -> dict:
    """What ``machine_noise`` compares: the load average and the CPU jiffies at one moment."""
    return {"load_average": load_average(), "cpu_times": cpu_times()}


def machine_noise(before: dict, after: dict, cores_in_use: int, max_steal: float = 0.05) -> dict:
    """Was the machine quiet enough between two ``noise_snapshot()`` calls to trust a timing?

    Busy when the 1-minute load average before or after exceeds ``cores_in_use`` (the threads the
    measurement ran on: more runnable work than that means something competed for them), or when the
    hypervisor stole more than ``max_steal`` of the CPU time. ``reasons`` says which, in words; empty when
    quiet. A load average that cannot be read is reported as unknown, not as quiet.
    """
    load_before, load_after = before.get("load_average"), after.get("load_average")
    steal = steal_share(before.get("cpu_times"), after.get("cpu_times"))
    reasons = []
    if load_before is None or load_after is None:
        reasons.append("load average unreadable")
    elif max(load_before[0], load_after[0]) > cores_in_use:
        reasons.append(f"load average {load_before[0]:.2f} before / {load_after[0]:.2f} after exceeds the "
                       f"{cores_in_use} cores in use")
    if steal is not None and steal > max_steal:
        reasons.append(f"steal time {100 * steal:.1f}% of CPU time (above {100 * max_steal:.0f}%)")
    return {"load_before": load_before, "load_after": load_after, "cores_in_use": cores_in_use,
            "steal_share": steal, "reasons": reasons}
