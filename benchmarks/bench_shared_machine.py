"""Engine decode and calibration throughput on a shared machine: 1 vs 2 threads, quiet vs a CPU burner,
before vs after fastprune's thread defaults (fastprune/threads.py), in one interleaved run.

Two long-lived worker processes hold the model: ``before`` starts with the OpenMP runtime's own wait
policy (spin, then sleep) and sets only ``torch.set_num_threads``, as fastprune did; ``after`` goes through
``fastprune.threads`` (``prepare_openmp`` before torch is imported, ``apply_threads`` per cell). Each
repetition runs every cell (worker x threads x task) once in a shuffled order, quiet and then with
``--burners`` busy-loop processes that this script starts and kills (the order of the two conditions
alternates between repetitions), so drifting load from other users hits every variant alike. Per cell:
tokens/s, CPU seconds of the worker per wall second (spinning shows as CPU without progress) and
involuntary context switches. Reported: medians with 95% bootstrap intervals, the slowdown a burner causes
(quiet / burner tokens/s, ratio of medians with a bootstrap interval), and after/before under the burner.

    python benchmarks/bench_shared_machine.py --threads 1,2        # a few minutes on an idle 2-core machine
    python benchmarks/bench_shared_machine.py --repeats 5 --burners 2
    python benchmarks/bench_shared_machine.py --workers after,pinned --threads 1,2 --repeats 8   # pinning

Under heavy load the collapsed cells (two spinning threads) take minutes each; lower --new-tokens then.

The machine is rarely quiet: the JSON records load averages and the hypervisor's steal share for every
block of cells, and ``quiet`` means only "no burner of ours".
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from fastprune import provenance  # noqa: E402
from fastprune.utils_io import atomic_write_json  # noqa: E402

WORKERS = ("before", "after", "pinned")
# pinned: the after worker with each OpenMP thread bound to its own core, so a co-tenant cannot migrate onto
# the core a thread waits on (the runtime reads these once, at start-up)
PINNING = {"OMP_PROC_BIND": "true", "OMP_PLACES": "cores"}
PROMPTS = [
    "Explain why the sky is blue in two sentences.",
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
    "How many clips did Natalia sell altogether?",
]
BURNER = "while True:\n    pass\n"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="smollm2-135m")
    p.add_argument("--threads", default="1,2,default",
                   help="thread counts to compare; 'default' is torch's own count in the before worker and "
                        "fastprune's auto choice (made again for every cell) in the after worker")
    p.add_argument("--batches", default="1,8", help="decode batch sizes")
    p.add_argument("--new-tokens", type=int, default=4, help="decoded tokens per sequence and cell")
    p.add_argument("--cal-seq-len", type=int, default=32)
    p.add_argument("--cal-batch-size", type=int, default=2)
    p.add_argument("--cal-batches", type=int, default=2, help="calibration batches per cell (first: warm-up)")
    p.add_argument("--burners", type=int, default=1, help="busy-loop processes in the loaded condition")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "shared_machine-cpu-smollm2.json"))
    p.add_argument("--resummarise", metavar="JSON", help="recompute the summary and plot of a result file")
    p.add_argument("--workers", default="before,after",
                   help="which workers to compare: before, after, pinned (after + OMP_PROC_BIND=true OMP_PLACES=cores)")
    p.add_argument("--worker", choices=WORKERS, help=argparse.SUPPRESS)
    return p.parse_args(argv)


# ------------------------------------------------------------------------------------------- worker side
def worker(args) -> int:
    """Serve cells from stdin (one JSON per line) until EOF; one JSON reply per line on stdout."""
    after = args.worker in ("after", "pinned")
    if "torch" in sys.modules:
        raise SystemExit("bench worker: torch was imported before the OpenMP environment was settled")
    from fastprune import threads as fp_threads

    if args.worker == "pinned":
        os.environ.update(PINNING)
    if after:
        fp_threads.prepare_openmp()  # before torch: the runtime reads the wait policy once
    else:  # the runtime's own default, as before fastprune.threads (importing fastprune sets PASSIVE)
        os.environ.pop("OMP_WAIT_POLICY", None)
    import torch

    from fastprune.calibrate.runner import CalibrationConfig, calibrate
    from fastprune.data import open_source
    from fastprune.engines import GenerationEngine, GenerationRequest, SamplingParams
    from fastprune.models import load_model

    loaded = load_model(args.model, dtype="float32", device="cpu")
    batches = [int(b) for b in args.batches.split(",")]
    engine = GenerationEngine(loaded, max_batch_size=max(batches), max_seq_len=128)
    prompts = [engine.encode_prompt(q) for q in PROMPTS]
    source = open_source("wikitext2")
    cal_tokens = args.cal_batches * args.cal_batch_size * args.cal_seq_len
    tmp = tempfile.TemporaryDirectory()

    torch_default = torch.get_num_threads()

    def set_threads(n: int | str) -> None:
        if after:
            fp_threads.apply_threads(None if n == "default" else n)
        else:
            torch.set_num_threads(torch_default if n == "default" else n)

    def decode(batch: int, new_tokens: int) -> int:
        reqs = [GenerationRequest(prompts[i % len(prompts)], SamplingParams(max_new_tokens=new_tokens,
                                                                            ignore_eos=True, seed=i))
                for i in range(batch)]
        return sum(r.num_tokens for r in engine.generate(reqs))

    def calibration() -> tuple[int, float]:
        stamps: list[tuple[float, int]] = []
        config = CalibrationConfig(seq_len=args.cal_seq_len, batch_size=args.cal_batch_size, max_tokens=cal_tokens,
                                   save_every=0, overwrite=True, progress=False, plots=False)
        calibrate(loaded, source, config, Path(tmp.name) / "cal",
                  on_batch=lambda b: stamps.append((time.perf_counter(), b.global_tokens)))
        return sum(t for _, t in stamps[1:]), stamps[-1][0] - stamps[0][0]

    set_threads(1)  # warm-up: allocations, kernel selection, the corpus read
    decode(max(batches), 2)
    calibration()
    print(json.dumps({"ready": True, "pid": os.getpid()}), flush=True)
    for line in sys.stdin:
        cell = json.loads(line)
        set_threads(cell["threads"])
        before = resource.getrusage(resource.RUSAGE_SELF)
        start = time.perf_counter()
        if cell["task"] == "calibrate":
            tokens, seconds = calibration()
        else:
            tokens = decode(cell["batch"], args.new_tokens)
            seconds = time.perf_counter() - start
        wall = time.perf_counter() - start
        used = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (used.ru_utime - before.ru_utime) + (used.ru_stime - before.ru_stime)
        reply = {
            "tokens": tokens,
            "seconds": seconds,
            "tokens_per_s": tokens / seconds,
            "cpu_per_wall": cpu / wall,
            "involuntary_switches": used.ru_nivcsw - before.ru_nivcsw,
            "torch_threads": torch.get_num_threads(),
            "os_threads": len(os.listdir("/proc/self/task")),
        }
        state = fp_threads.thread_state()
        reply.update(native_threads=state["native"], wait_policy=state["wait_policy"],
                     openmp_runtimes=state["openmp_runtimes"], auto_threads_now=fp_threads.auto_threads())
        print(json.dumps(reply), flush=True)
    tmp.cleanup()
    return 0


# ------------------------------------------------------------------------------------------- parent side
def start_worker(name: str, args) -> subprocess.Popen:
    unset = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS", *PINNING)
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    cmd = [sys.executable, __file__, "--worker", name, "--model", args.model, "--threads", args.threads,
           "--batches", args.batches, "--new-tokens", str(args.new_tokens), "--cal-seq-len", str(args.cal_seq_len),
           "--cal-batch-size", str(args.cal_batch_size), "--cal-batches", str(args.cal_batches)]
    return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, bufsize=1)


def ask(proc: subprocess.Popen, cell: dict | None = None) -> dict:
    if cell is not None:
        proc.stdin.write(json.dumps(cell) + "\n")
        proc.stdin.flush()
    line = proc.stdout.readline()
    if not line:
        raise SystemExit(f"worker {proc.pid} died (exit {proc.wait()})")
    return json.loads(line)


def start_burners(n: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", BURNER]) for _ in range(n)]


def stop_burners(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.kill()
        p.wait()


def cells(args) -> list[dict]:
    out = []
    for name in chosen_workers(args):
        for n in _thread_tokens(args.threads):
            for b in [int(b) for b in args.batches.split(",")]:
                out.append({"worker": name, "threads": n, "task": "decode", "batch": b})
            out.append({"worker": name, "threads": n, "task": "calibrate", "batch": args.cal_batch_size})
    return out


def chosen_workers(args) -> list[str]:
    names = [w.strip() for w in args.workers.split(",") if w.strip()]
    unknown = sorted(set(names) - set(WORKERS))
    if unknown or not names:
        raise SystemExit(f"--workers {args.workers!r}: choose from {', '.join(WORKERS)}")
    return names


def _thread_tokens(text: str) -> list[int | str]:
    return [t if t == "default" else int(t) for t in text.split(",")]


def key(cell: dict) -> str:
    task = f"decode_b{cell['batch']}" if cell["task"] == "decode" else "calibrate"
    return f"{cell['worker']}/t{cell['threads']}/{task}"


def median_ci(values: list[float]) -> list[float] | None:
    if len(values) < 3 or len(set(values)) < 2:
        return None
    res = stats.bootstrap((np.asarray(values),), np.median, confidence_level=0.95, method="percentile",
                          n_resamples=2000, random_state=0)
    return [float(res.confidence_interval.low), float(res.confidence_interval.high)]


def ratio_ci(num: list[float], den: list[float]) -> list[float] | None:
    """95% bootstrap interval of median(num) / median(den), the two samples resampled independently."""
    if min(len(num), len(den)) < 3:
        return None
    res = stats.bootstrap((np.asarray(num), np.asarray(den)), lambda a, b: np.median(a) / np.median(b),
                          confidence_level=0.95, method="percentile", n_resamples=2000, random_state=0)
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    return None if not (np.isfinite(low) and np.isfinite(high)) else [low, high]


def _values(conds: dict[str, list[float]], cond: str) -> list[float]:
    """One condition's samples, or (``pooled``) both: other users' load often dwarfs our burner."""
    return [v for vs in conds.values() for v in vs] if cond == "pooled" else conds.get(cond, [])


def defaults_comparison(records: list[dict], cores: int | None) -> dict:
    """New default vs old, both conditions pooled: the after worker at the count fastprune's auto chose
    (when it chose the same in every cell) against the before worker at torch's default (the core count)."""
    autos = {r["auto_threads_now"] for r in records if r.get("auto_threads_now") is not None}
    if len(autos) != 1 or not cores:
        return {"note": f"auto chose {sorted(autos)} threads; no single new default to compare"}
    auto = autos.pop()
    out = {"new_default_threads": auto, "old_default_threads": cores}
    for task in sorted({key(r).rsplit("/", 1)[1] for r in records}):
        new = [r["tokens_per_s"] for r in records if key(r) == f"after/t{auto}/{task}"]
        old = [r["tokens_per_s"] for r in records if key(r) == f"before/t{cores}/{task}"]
        if new and old:
            out[task] = {"new_over_old": statistics.median(new) / statistics.median(old), "ci95": ratio_ci(new, old),
                         "n": [len(new), len(old)]}
    return out


def summarise(records: list[dict], args) -> dict:
    by: dict[str, dict[str, list[float]]] = {}
    for r in records:
        by.setdefault(key(r), {}).setdefault(r["condition"], []).append(r["tokens_per_s"])
    out = {}
    for k, conds in sorted(by.items()):
        quiet, burn = conds.get("quiet", []), conds.get("burner", [])
        row = {c: {"n": len(v), "median_tokens_per_s": statistics.median(v), "ci95": median_ci(v)}
               for c, v in conds.items()}
        if quiet and burn:
            row["slowdown_quiet_over_burner"] = {"median": statistics.median(quiet) / statistics.median(burn),
                                                 "ci95": ratio_ci(quiet, burn), "n": [len(quiet), len(burn)]}
        out[k] = row
    for k in list(out):
        worker, rest = k.split("/", 1)
        for over in {"after": ["before"], "pinned": ["after", "before"]}.get(worker, []):
            base = f"{over}/{rest}"
            for cond in ("quiet", "burner", "pooled"):
                a, b = _values(by.get(k, {}), cond), _values(by.get(base, {}), cond)
                if a and b:
                    out[k][f"{worker}_over_{over}_{cond}"] = {"median": statistics.median(a) / statistics.median(b),
                                                              "ci95": ratio_ci(a, b), "n": [len(a), len(b)]}
    return out


def plot(summary: dict, path: Path) -> None:
    """Median tokens/s with 95% intervals per cell, quiet next to burner, one panel per task."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = sorted({k.rsplit("/", 1)[1] for k in summary})
    fig, axes = plt.subplots(1, len(tasks), figsize=(5 * len(tasks), 4), squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=True):
        names = [k for k in summary if k.endswith("/" + task)]
        for offset, cond, color in ((-0.2, "quiet", "tab:blue"), (0.2, "burner", "tab:red")):
            xs, ys, errs = [], [], [[], []]
            for i, name in enumerate(names):
                cell = summary[name].get(cond)
                if not cell:
                    continue
                m, ci = cell["median_tokens_per_s"], cell["ci95"] or [cell["median_tokens_per_s"]] * 2
                xs.append(i + offset), ys.append(m)
                errs[0].append(m - ci[0]), errs[1].append(ci[1] - m)
            ax.bar(xs, ys, width=0.4, yerr=errs, color=color, label=cond, capsize=3)
        ax.set_xticks(range(len(names)), [n.rsplit("/", 1)[0] for n in names], rotation=30, ha="right")
        ax.set_title(task)
        ax.set_ylabel("tokens/s (median, 95% CI)")
        ax.set_yscale("log")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _result(args, prov, started, blocks, records, interrupted) -> dict:
    return {
        "benchmark": "shared_machine",
        "provenance": prov,
        "settings": {k: getattr(args, k) for k in ("model", "workers", "threads", "batches", "new_tokens",
                                                   "cal_seq_len", "cal_batch_size", "cal_batches", "burners",
                                                   "repeats", "seed")},
        "note": ("tokens/s of engine.generate (short prompts, prefill included) and of calibrate (batches after "
                 "the first); 'quiet' = no burner of ours, other users' load recorded per block"),
        "wall_s": time.perf_counter() - started,
        "complete": not interrupted and len(blocks) == 2 * args.repeats,
        "load_average_after": provenance.load_average(),
        "blocks": blocks,
        "summary": summarise(records, args),
        "defaults": defaults_comparison(records, prov.get("cpu_count")),
        "records": records,
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.worker:
        return worker(args)
    if args.resummarise:
        result = json.loads(Path(args.resummarise).read_text())
        result["summary"] = summarise(result["records"], args)
        result["defaults"] = defaults_comparison(result["records"], result["provenance"].get("cpu_count"))
        atomic_write_json(args.resummarise, result)
        plot(result["summary"], Path(args.resummarise).with_suffix(".png"))
        return 0
    # A timeout's SIGTERM ends the run like Ctrl-C: burners are killed and what was measured is kept.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    prov = provenance.run_provenance(threads=None)
    started = time.perf_counter()
    workers = {name: start_worker(name, args) for name in chosen_workers(args)}
    burners: list[subprocess.Popen] = []
    records, blocks = [], []
    rng = random.Random(args.seed)
    interrupted = False
    try:
        for name, proc in workers.items():
            print(f"{name}: {ask(proc)}", file=sys.stderr)
        for rep in range(args.repeats):
            order = ("quiet", "burner") if rep % 2 == 0 else ("burner", "quiet")
            for condition in order:
                if condition == "burner":
                    burners = start_burners(args.burners)
                    time.sleep(1.0)  # let the scheduler see them
                block = {"rep": rep, "condition": condition, "load_before": provenance.load_average()}
                times_before = provenance.cpu_times()
                todo = cells(args)
                rng.shuffle(todo)
                for cell in todo:
                    reply = ask(workers[cell["worker"]], {k: cell[k] for k in ("threads", "task", "batch")})
                    records.append({**cell, **reply, "rep": rep, "condition": condition})
                    print(f"rep {rep} {condition:>6} {key(cell):<24} {reply['tokens_per_s']:8.1f} tok/s "
                          f"cpu/wall {reply['cpu_per_wall']:.2f}", file=sys.stderr)
                block.update(load_after=provenance.load_average(),
                             steal_share=provenance.steal_share(times_before, provenance.cpu_times()))
                blocks.append(block)
                stop_burners(burners)
                burners = []
                atomic_write_json(args.out, _result(args, prov, started, blocks, records, interrupted=True))
    except KeyboardInterrupt:  # keep what was measured; the JSON says it is partial
        interrupted = True
    finally:
        stop_burners(burners)
        for proc in workers.values():
            proc.stdin.close()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    result = _result(args, prov, started, blocks, records, interrupted)
    atomic_write_json(args.out, result)
    if result["summary"]:
        plot(result["summary"], Path(args.out).with_suffix(".png"))
    for k, row in result["summary"].items():
        s = row.get("slowdown_quiet_over_burner")
        print(f"{k:<24} quiet {row.get('quiet', {}).get('median_tokens_per_s', float('nan')):7.1f}  burner "
              f"{row.get('burner', {}).get('median_tokens_per_s', float('nan')):7.1f} tok/s  slowdown "
              f"{s['median'] if s else float('nan'):.2f}x {s['ci95'] if s else ''}", file=sys.stderr)
    print(json.dumps({"out": args.out, "wall_s": round(result["wall_s"], 1), "complete": result["complete"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
