"""Per-program cost of the OS sandbox against the Python-level fence alone, on the same programs.

Each of ``--n`` HumanEval programs (prompt + canonical solution + tests) runs once under each OS sandbox
that works here (``unshare``; ``bwrap`` if installed: namespaces, read-only root, unprivileged uid, plus
the fence) and once under ``none`` (the Python-level fence only: what evaluation ran behind before the
OS sandbox, and what ``--allow-unsandboxed-exec`` runs now), one program at a time, the order of the kinds
shuffled per program so drift from other processes hits all alike. Reported: the median of each and the median
of the per-program paired differences with a 95% bootstrap interval (``scipy.stats.bootstrap``, BCa), and
the load on the machine before and after (a loaded machine is flagged: its numbers are upper bounds).

    python benchmarks/bench_sandbox.py --n 60 --out benchmarks/results/sandbox-cpu.json
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time

import numpy as np
from scipy import stats

from fastprune.evaluate.humaneval import load_problems, program
from fastprune.evaluate.isolation import bwrap_binary, detect, probe, unshare_binary
from fastprune.evaluate.sandbox import run_program
from fastprune.provenance import cpu_times, load_average, run_provenance, steal_share
from fastprune.utils_io import atomic_write_json

TARGET_MS = 50.0


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=60, help="programs (the first n HumanEval problems)")
    p.add_argument("--warmup", type=int, default=3, help="untimed runs of each kind first")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="benchmarks/results/sandbox-cpu.json")
    return p.parse_args(argv)


def _time(code: str, kind: str) -> float:
    start = time.perf_counter()
    r = run_program(code, timeout=30, kind=kind)
    seconds = time.perf_counter() - start
    if not r.passed:
        raise RuntimeError(f"a canonical solution failed under {kind}: {r.error}")
    return seconds


def _ms_interval(values: np.ndarray, seed: int) -> list[float]:
    res = stats.bootstrap((values,), np.median, confidence_level=0.95, method="BCa", n_resamples=5000,
                          random_state=seed)
    return [round(1000 * res.confidence_interval.low, 2), round(1000 * res.confidence_interval.high, 2)]


def main(argv=None) -> dict:
    args = parse_args(argv)
    kinds = [k for k, binary in (("unshare", unshare_binary()), ("bwrap", bwrap_binary()))
             if binary and not probe(k)]
    if not kinds:
        raise SystemExit(f"no OS sandbox here: {detect().problem}")
    programs = [program(p, p["canonical_solution"]) for p in load_problems()[: args.n]]
    rng = random.Random(args.seed)
    for code in programs[: args.warmup]:
        for kind in (*kinds, "none"):
            _time(code, kind)
    load_before, cpu_before = load_average(), cpu_times()
    times: dict[str, list[float]] = {kind: [] for kind in (*kinds, "none")}
    for code in programs:
        order = [*kinds, "none"]
        rng.shuffle(order)
        for kind in order:
            times[kind].append(_time(code, kind))
    load_after, steal = load_average(), steal_share(cpu_before, cpu_times())
    cores = os.cpu_count() or 1
    loaded = bool(max((load_before or [0])[0], (load_after or [0])[0]) > 0.75 * cores)
    extra = {}
    for kind in kinds:
        diff = np.array(times[kind]) - np.array(times["none"])
        interval = _ms_interval(diff, args.seed)
        extra[kind] = {"median_ms": round(1000 * float(np.median(diff)), 2), "ci95_ms": interval,
                       "meets_target": bool(interval[1] < TARGET_MS)}
    result = {
        "what": "wall time per program (run_program), each OS sandbox vs the Python-level fence alone ('none')",
        "n": len(programs),
        "median_ms": {k: round(1000 * statistics.median(v), 2) for k, v in times.items()},
        "extra_per_program": extra,
        "ci_method": "scipy.stats.bootstrap BCa on the median of per-program paired differences",
        "target_ms": TARGET_MS,
        "load_average_before": load_before,
        "load_average_after": load_after,
        "steal_share": steal,
        "loaded_machine": loaded,
        "note": ("machine loaded by other processes (1-min load above 0.75 x cores): the times, and likely the "
                 "differences, are inflated; treat them as upper bounds") if loaded else "",
        "raw_ms": {k: [round(1000 * t, 2) for t in v] for k, v in times.items()},
        "provenance": run_provenance(threads=1),
    }
    atomic_write_json(args.out, result)
    for kind, e in extra.items():
        print(f"n={result['n']}: {kind} {result['median_ms'][kind]} ms vs none {result['median_ms']['none']} ms "
              f"per program; extra {e['median_ms']} ms (95% CI {e['ci95_ms'][0]}..{e['ci95_ms'][1]}), target "
              f"< {TARGET_MS:g} ms: {'met' if e['meets_target'] else 'NOT met'}")
    print(f"load {load_before} -> {load_after} on {cores} cores{' (LOADED machine)' if loaded else ''}")
    return result


if __name__ == "__main__":
    main()
