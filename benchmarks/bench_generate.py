"""Generation throughput: fastprune's engine vs HF ``generate`` at its strongest, same prompts/settings/dtype.

HF baselines, each a row: the default dynamic cache, the static cache (``cache_implementation="static"``)
and, with ``--hf-compile``, the static cache with ``torch.compile`` (its compile time reported apart; a
compile that fails is recorded with the reason). Ratios are quoted against the fastest HF variant, each
with a paired 95% bootstrap interval over interleaved repeats and an unreliable flag with the reason
(``fastprune.bench.stats``). HF gets left-padded prompts, the engine the real tokens only: prefill tokens/s
count the real tokens for everyone and ``padded_token_share`` says how much padding HF computed on.
Peers, each a row on the same prompt token ids, forced lengths and (closest) dtype, timed in the same
interleaved rounds and compared with the same intervals: vLLM (offline engine in its own environment,
``make setup-vllm``; ``peer_vllm.py``) and llama.cpp through ``llama-cpp-python`` (GGUF exported by
fastprune at f32 for float32, f16 for half types; ``peer_llama_cpp.py``). Their start-up (vLLM's model
load, the GGUF export) is reported apart. A peer that is absent or fails is listed with the reason.

Every sequence is forced to exactly ``--new-tokens`` tokens (``ignore_eos`` here, ``min_new_tokens`` for
HF) so both count the same work. Per-step decode time comes from two runs (N tokens and 1 token):
``(t_N - t_1) / (N - 1)``, which removes prefill. It is set against the bandwidth floor: bytes of weights
read per step (every decoder layer, the final norm and the LM head; not the embedding table, of which a
step reads one row per sequence) divided by the measured copy bandwidth, and against a bare pass of
matrix-vector products over the same weights.

    python benchmarks/bench_generate.py --model smollm2-135m --batches 1,8 --out bench_generate.json
    python benchmarks/bench_generate.py --model random:llama-3.1-8b --dtype bfloat16 --device cuda --hf-compile
    python benchmarks/bench_generate.py --model smollm2-135m --batches 1,4 --peers vllm  # after `make setup-vllm`

The JSON records ``run_provenance()`` and the machine's load/steal before and after (``noise``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from fastprune.bench.stats import (  # noqa: E402
    coefficient_of_variation,
    format_ratio,
    ratio_interval,
    ratio_verdict,
)
from fastprune.bench.timing import synchronize, time_call  # noqa: E402
from fastprune.engines import GenerationEngine, GenerationRequest, SamplingParams  # noqa: E402
from fastprune.engines.process_group import sigterm_raises  # noqa: E402
from fastprune.models import load_model  # noqa: E402
from fastprune.provenance import machine_noise, noise_snapshot, run_provenance  # noqa: E402
from fastprune.utils_io import atomic_write_json  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import PEER_NAMES, PeerRun, check_run, parse_peers, peer_status, skipped_lines  # noqa: E402

QUESTIONS = [
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
    "How many clips did Natalia sell altogether in April and May?",
    "Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of babysitting. How much did "
    "she earn?",
    "Write a Python function that returns the n-th Fibonacci number.",
    "Explain why the sky is blue in two sentences.",
]


def _timed(fn, device, repeats):
    return statistics.median(time_call(fn, device) for _ in range(repeats))


def copy_bandwidth(device, nbytes=256 << 20, repeats=5) -> float:
    """Bytes/s of a large tensor copy (read + write counted)."""
    src = torch.empty(nbytes // 4, dtype=torch.float32, device=device).uniform_()
    dst = torch.empty_like(src)
    dst.copy_(src)
    t = _timed(lambda: dst.copy_(src), device, repeats)
    return 2 * nbytes / t


def weight_matrices(loaded):
    """Weights one decode step streams through: layers, final norm, LM head."""
    adapter = loaded.adapter
    mats = [p for layer in adapter.layers for p in layer.parameters()]
    if adapter.final_norm is not None:
        mats += list(adapter.final_norm.parameters())
    mats.append(adapter.lm_head().weight)
    return mats


def matvec_pass(loaded, device, repeats=5) -> float:
    """Seconds for one batch-1 product with every 2-D weight (the practical floor at batch 1)."""
    mats = [w for w in weight_matrices(loaded) if w.dim() == 2]
    xs = {w.shape[1]: torch.randn(1, w.shape[1], dtype=w.dtype, device=device) for w in mats}

    def run():
        for w in mats:
            torch.nn.functional.linear(xs[w.shape[1]], w)

    with torch.inference_mode():
        run()
        return _timed(run, device, repeats)


# --sampling: greedy, or the paper's self-response settings (what `fastprune generate` uses by default).
SAMPLING = {"greedy": {}, "paper": {"temperature": 0.9, "top_p": 0.95}}


HF_CACHES = {"hf-dynamic": {}, "hf-static": {"cache_implementation": "static"}}


def _compiled_copy(model):
    from fastprune.bench.measure import shared_weight_copy

    copy = shared_weight_copy(model)
    copy.forward = torch.compile(copy.forward, dynamic=False)
    return copy


class CompileBudgetExceeded(Exception):
    pass


@contextlib.contextmanager
def time_budget(seconds: float | None, what: str):
    """Raise ``CompileBudgetExceeded`` in the main thread once ``seconds`` have passed (SIGALRM; POSIX)."""
    if not seconds or not hasattr(signal, "SIGALRM"):
        yield
        return

    def expire(signum, frame):
        raise CompileBudgetExceeded(f"{what} took longer than the {seconds:.0f} s budget on this device")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def peer_sampling(sampling: str) -> dict:
    """The benchmark's sampling as the peers take it (top-k off, as for HF and our engine)."""
    return {"temperature": 0.0} if sampling == "greedy" else {**SAMPLING[sampling], "top_k": 0}


def timed_run(name, fn, n, device, batch):
    """(seconds for the row, caller's wall seconds, the peer's run or None) of one call ``fn(n)``.

    A peer that times itself (in its own process) gives its own seconds; its lengths are checked here.
    """
    box = []
    wall = time_call(lambda: box.append(fn(n)), device)
    run = box[0] if box else None
    if not isinstance(run, PeerRun):
        return wall, wall, None
    check_run(name, run, batch, n)
    return (run.seconds if run.seconds is not None else wall), wall, run


def runner_entry(s, batch, new_tokens, real_tokens, warmup_s):
    """A runner's row entry from its paired samples (``s["one"]``: 1 new token, ``s["full"]``: ``new_tokens``)."""
    steps = [max(f - o, 1e-9) / (new_tokens - 1) for f, o in zip(s["full"], s["one"], strict=True)]
    full, one = statistics.median(s["full"]), statistics.median(s["one"])
    return {
        "seconds": full,
        "tokens_per_s": batch * new_tokens / full,
        "ms_per_step": 1000 * statistics.median(steps),
        "prefill_ms": 1000 * one,
        "prefill_real_tokens_per_s": real_tokens / one,
        "cv_full": coefficient_of_variation(s["full"]),
        "cv_step": coefficient_of_variation(steps),
        "warmup_s": warmup_s,
        "samples": {"seconds": s["full"], "step_s": steps, "prefill_s": s["one"]},
    }


def peer_details(s, runs, ours_tokens, prompt_lens, greedy):
    """What a peer row adds: the lengths it ran, caller-side overhead, greedy agreement with our engine."""
    last = runs[-1]
    out = {"prompt_tokens": prompt_lens, "new_tokens_per_sequence": last.new_tokens}
    if last.prompt_ids_match is not None:
        out["prompt_ids_match"] = last.prompt_ids_match
    if last.seconds is not None:  # timed inside its own process: what the pipe and JSON cost on top
        out["outside_overhead_ms"] = 1000 * statistics.median(
            w - t for w, t in zip(s["wall_full"], s["full"], strict=True))
    if greedy and ours_tokens is not None and last.token_ids is not None:
        same = sum(a == b for a, b in zip(last.token_ids, ours_tokens, strict=True))
        out["same_greedy_tokens_as_fastprune"] = same / len(ours_tokens)
    return out


def bench_batch(loaded, engine, prompts, batch, new_tokens, repeats, sampling="greedy", hf_compile=False,
                compile_budget=None, peers=None):
    """One row per runner at ``batch``: repeats interleaved across runners, so drift hits all alike.

    ``peers``: ``{name: peer}`` with ``peer.runner(prompt ids, sampling, seeds) -> fn(n) -> PeerRun``.
    """
    device = loaded.device
    ids = [prompts[i % len(prompts)] for i in range(batch)]
    tok = loaded.tokenizer
    tok.padding_side = "left"
    enc = tok.pad({"input_ids": ids}, return_tensors="pt").to(device)
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    real_tokens = sum(len(p) for p in ids)

    # top_k=0 when sampling: HF's generation config would otherwise add its default top-k of 50.
    kw = {"do_sample": False} if sampling == "greedy" else {"do_sample": True, "top_k": 0, **SAMPLING[sampling]}

    def hf(model, cache):
        def run(n):
            with torch.inference_mode():
                model.generate(**enc, max_new_tokens=n, min_new_tokens=n, pad_token_id=pad_id, **cache, **kw)
        return run

    ours_tokens = {}

    def ours(n):
        reqs = [GenerationRequest(p, SamplingParams(max_new_tokens=n, ignore_eos=True, seed=i, **SAMPLING[sampling]))
                for i, p in enumerate(ids)]
        out = engine.generate(reqs)
        assert all(r.num_tokens == n for r in out)
        ours_tokens[n] = [list(r.token_ids) for r in out]

    runners = {name: hf(loaded.model, cache) for name, cache in HF_CACHES.items()}
    if hf_compile:
        runners["hf-static-compile"] = hf(_compiled_copy(loaded.model), HF_CACHES["hf-static"])
    runners["fastprune"] = ours
    for name, peer in (peers or {}).items():
        seeds = None if sampling == "greedy" else list(range(batch))  # request i's seed, as for our engine
        runners[name] = peer.runner([list(p) for p in ids], peer_sampling(sampling), seeds)
    row = {"batch": batch, "new_tokens": new_tokens, "sampling": sampling, "prompt_tokens": [len(p) for p in ids],
           "padded_token_share": 1 - real_tokens / enc["input_ids"].numel(), "failed": {}}
    warm = {}
    print(f"batch {batch}: warm-up of {', '.join(runners)}", file=sys.stderr, flush=True)
    for name, fn in list(runners.items()):
        budget = compile_budget if name == "hf-static-compile" else None
        try:  # warm-up: allocations, kernel selection, static caches and compiled graphs for both shapes
            with time_budget(budget, f"torch.compile of HF generate (batch {batch}, both shapes)"):
                warm[name] = sum(timed_run(name, fn, n, device, batch)[1] for n in (1, new_tokens))
        except Exception as exc:  # noqa: BLE001 - a baseline that cannot run is reported, not fatal
            row["failed"][name] = _failure(exc)
            del runners[name]
    samples = {name: {"one": [], "full": [], "wall_full": [], "runs": []} for name in runners}
    for index in range(repeats):
        print(f"batch {batch}: repeat {index + 1}/{repeats} of {', '.join(runners)}", file=sys.stderr, flush=True)
        for name, fn in list(runners.items()):
            s = samples[name]
            try:
                one, _, _ = timed_run(name, fn, 1, device, batch)
                full, wall, run = timed_run(name, fn, new_tokens, device, batch)
            except Exception as exc:  # a peer failing mid-way loses its row, not the others'
                if name not in (peers or {}):
                    raise
                row["failed"][name] = _failure(exc)
                del runners[name], samples[name]
                continue
            s["one"].append(one)
            s["full"].append(full)
            s["wall_full"].append(wall)
            if run is not None:
                s["runs"].append(run)
    for name, s in samples.items():
        row[name] = runner_entry(s, batch, new_tokens, real_tokens, warm[name])
        if s["runs"]:
            row[name].update(peer_details(s, s["runs"], ours_tokens.get(new_tokens), [len(p) for p in ids],
                                          sampling == "greedy"))
            row[name]["setup"] = peers[name].label
    if "hf-static-compile" in row:
        row["hf-static-compile"]["compile_s"] = warm["hf-static-compile"]  # both shapes compiled + one run each
    return row


def _failure(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:300]}"


def _versus(row, name, noise_reasons, max_interval_width, max_cv):
    """Engine vs runner ``name``: tok/s incl. prefill and per-step ratios with intervals and flags."""
    ours, entry = row["fastprune"], {}
    for metric, key, cv in (("tokens_per_s", "seconds", "cv_full"), ("ms_per_step", "step_s", "cv_step")):
        ci = ratio_interval(row[name]["samples"][key], ours["samples"][key])
        entry[metric] = {**ci, "unreliable": ratio_verdict(ci, row[name][cv], ours[cv], noise_reasons,
                                                           max_interval_width, max_cv)}
    return entry


def add_ratios(row, noise_reasons, max_interval_width=0.10, max_cv=0.10):
    """Engine vs every HF variant and every peer (tok/s incl. prefill and per-step), intervals and flags; the
    fastest HF variant named (the headline speedup is against it)."""
    measured = [n for n in row if isinstance(row[n], dict) and "samples" in row[n]]
    if "fastprune" not in row:
        return
    peer_names = [n for n in measured if n in PEER_NAMES]
    if peer_names:
        row["vs_peers"] = {name: _versus(row, name, noise_reasons, max_interval_width, max_cv) for name in peer_names}
    hf_names = [n for n in measured if n.startswith("hf-")]
    if not hf_names:
        return
    row["fastest_hf"] = min(hf_names, key=lambda n: row[n]["seconds"])
    row["vs_hf"] = {name: _versus(row, name, noise_reasons, max_interval_width, max_cv) for name in hf_names}
    fastest = row["vs_hf"][row["fastest_hf"]]
    row["speedup_tokens_per_s"] = fastest["tokens_per_s"]["value"]
    row["speedup_ms_per_step"] = fastest["ms_per_step"]["value"]


def bench_continuous(engine, prompts, requests, max_new, seed=0):
    """Throughput with continuous batching: ``requests`` prompts with answers of mixed, random lengths."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(max(1, max_new // 8), max_new + 1, (requests,), generator=g).tolist()
    reqs = [GenerationRequest(prompts[i % len(prompts)], SamplingParams(max_new_tokens=n, ignore_eos=True))
            for i, n in enumerate(lengths)]
    engine.generate(reqs[: engine.max_batch_size])  # warm-up
    synchronize(engine.device)
    t = time.perf_counter()
    out = engine.generate(reqs)
    synchronize(engine.device)
    seconds = time.perf_counter() - t
    tokens = sum(r.num_tokens for r in out)
    return {"requests": requests, "slots": engine.max_batch_size, "new_tokens_range": [min(lengths), max(lengths)],
            "tokens": tokens, "seconds": seconds, "tokens_per_s": tokens / seconds}


def summary_line(row, floor_ms, matvec_s) -> str:
    ours = row["fastprune"]
    text = (f"batch {row['batch']} (HF padding {100 * row['padded_token_share']:.0f}%): fastprune "
            f"{ours['tokens_per_s']:.1f} tok/s ({ours['ms_per_step']:.1f} ms/step)")
    for name, ratios in [*row.get("vs_hf", {}).items(), *row.get("vs_peers", {}).items()]:
        t, m = ratios["tokens_per_s"], ratios["ms_per_step"]
        reasons = list(dict.fromkeys(t["unreliable"] + m["unreliable"]))
        flag = " UNRELIABLE: " + "; ".join(reasons) if reasons else ""
        label = " (fastest HF)" if name == row.get("fastest_hf") else f" ({row[name]['setup']})" \
            if "setup" in row[name] else ""
        text += (f"\n  vs {name}{label} "
                 f"{row[name]['tokens_per_s']:.1f} tok/s, {row[name]['ms_per_step']:.1f} ms/step: "
                 f"x{format_ratio(t)} tok/s, x{format_ratio(m)} per step (n={t['n']}){flag}")
    for name, why in row["failed"].items():
        text += f"\n  {name}: failed: {why}"
    return text + f"\n  floor {floor_ms:.1f} ms/step, matvec pass {1000 * matvec_s:.1f} ms"


def vllm_checkpoint(loaded, work_dir) -> str:
    """A directory vLLM loads with the engine's weights: the embedded model's converted checkpoint, a local
    checkpoint as it is, an in-memory model (``tiny:``, ``random:``, GGUF) saved once."""
    from fastprune.engines.vllm_session import server_checkpoint
    from fastprune.models import ensure_embedded_checkpoint

    if loaded.spec.kind == "embedded":
        return str(ensure_embedded_checkpoint())
    return server_checkpoint(loaded, work_dir)


def start_peers(stack, status, args, loaded, work_dir, max_batch) -> dict:
    """Start every peer that is present and asked for (start-up timed apart, into ``status``); one that
    fails to start is recorded there with the reason and left out."""
    threads = torch.get_num_threads()
    dtype = str(loaded.dtype).replace("torch.", "")  # what the engine really runs ("auto" resolved)
    peers = {}
    for name, info in status.items():
        if info["skipped"]:
            continue
        print(f"peer {name}: starting (not timed)", file=sys.stderr, flush=True)
        try:
            if name == "vllm":
                from peer_vllm import VLLMPeer

                peer = VLLMPeer(vllm_checkpoint(loaded, work_dir), info["python"], args.vllm_dtype or dtype,
                                args.max_seq_len, max_batch, threads, Path(work_dir) / "vllm.log",
                                startup_timeout=args.vllm_timeout)
            else:
                from peer_llama_cpp import LlamaCppPeer

                peer = LlamaCppPeer(args.model, dtype, work_dir, threads, args.max_seq_len,
                                    verify=args.llama_cpp_verify, gpu=loaded.device.type == "cuda")
            info.update(stack.enter_context(peer).info)
        except Exception as exc:  # noqa: BLE001 - a peer that cannot start is reported, not fatal
            info["skipped"] = f"failed to start: {_failure(exc)}"
            print(f"peer {name}: {info['skipped']}", file=sys.stderr, flush=True)
            continue
        print(f"peer {name}: ready in {info['startup_s']:.0f} s (not timed into its rows)", file=sys.stderr, flush=True)
        info["engine_dtype"] = dtype
        if name == "vllm":
            info["precision"] = (f"{info['dtype']}, the engine's dtype" if info["dtype"] == dtype else
                                 f"{info['dtype']}; the engine ran {dtype}")
        peers[name] = peer
    return peers


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    ap.add_argument("--continuous", type=int, default=0, metavar="N",
                    help="also time N requests of mixed answer lengths through max(batches) slots")
    ap.add_argument("--max-seq-len", type=int, default=512)
    ap.add_argument("--sampling", default="greedy", choices=sorted(SAMPLING),
                    help="greedy, or paper: temperature 0.9, top-p 0.95 (the self-response settings), for both")
    ap.add_argument("--hf-compile", action="store_true",
                    help="also time HF with the static cache and torch.compile (compile time reported apart)")
    ap.add_argument("--hf-compile-budget", type=float, default=300, metavar="S",
                    help="give up compiling after S seconds per batch size and record why (default 300)")
    ap.add_argument("--peers", default=",".join(PEER_NAMES),
                    help="peer engines to time where present: vllm, llama.cpp, or none (default both)")
    ap.add_argument("--vllm-python", metavar="PATH", help="Python of the vLLM environment (default "
                    "$FASTPRUNE_VLLM_PYTHON, else .venv-vllm/bin/python from `make setup-vllm`)")
    ap.add_argument("--vllm-dtype", help="vLLM's dtype (default: --dtype, the engine's)")
    ap.add_argument("--vllm-timeout", type=float, default=900.0, help="seconds vLLM may take to load (default 900)")
    ap.add_argument("--no-llama-cpp-verify", dest="llama_cpp_verify", action="store_false",
                    help="skip verifying the exported GGUF (transformers reload, llama.cpp greedy vs HF)")
    ap.add_argument("--out", default="bench_generate.json")
    args = ap.parse_args(argv)
    wanted_peers = parse_peers(args.peers)
    if args.threads:
        torch.set_num_threads(args.threads)
    before = noise_snapshot()
    loaded = load_model(args.model, dtype=args.dtype, device=args.device)
    device = loaded.device
    batches = [int(b) for b in args.batches.split(",")]
    engine = GenerationEngine(loaded, max_batch_size=max(batches), max_seq_len=args.max_seq_len)
    prompts = [engine.encode_prompt(q) for q in QUESTIONS]

    weight_bytes = sum(w.numel() * w.element_size() for w in weight_matrices(loaded))
    bandwidth = copy_bandwidth(device)
    matvec_s = matvec_pass(loaded, device)
    peers_info = peer_status(wanted_peers, args.vllm_python)
    rows, compile_ok = [], args.hf_compile
    # SIGTERM (a timeout, a scheduler) unwinds: the peers stop and their temporary folder goes.
    with sigterm_raises(), contextlib.ExitStack() as stack:
        work_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="fastprune-peers-"))
        peers = start_peers(stack, peers_info, args, loaded, work_dir, max(batches))
        for b in batches:
            rows.append(bench_batch(loaded, engine, prompts, b, args.new_tokens, args.repeats, args.sampling,
                                    compile_ok, args.hf_compile_budget, peers))
            if compile_ok and "hf-static-compile" in rows[-1]["failed"]:
                compile_ok = False  # the same failure at every batch size would only cost time
                first_failure = b
            elif args.hf_compile and not compile_ok:
                rows[-1]["failed"]["hf-static-compile"] = f"not tried again after failing at batch {first_failure}"
    noise = machine_noise(before, noise_snapshot(), cores_in_use=torch.get_num_threads())
    floor_ms = 1000 * weight_bytes / bandwidth
    for row in rows:
        add_ratios(row, noise["reasons"])
        row["floor_ms_per_step"] = floor_ms
        row["fastprune"]["fraction_of_floor"] = floor_ms / row["fastprune"]["ms_per_step"]
        row["fastprune"]["achieved_bandwidth_GBps"] = weight_bytes / row["fastprune"]["ms_per_step"] / 1e6
    result = {
        "benchmark": "generate",
        "model": args.model,
        "dtype": args.dtype,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "runner": engine.runner.name,
        "decode_kernels": getattr(engine.runner, "linear_backend", "torch"),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "provenance": run_provenance(threads=torch.get_num_threads()),
        "noise": noise,
        "peers": peers_info,
        "weight_bytes_per_step": weight_bytes,
        "copy_bandwidth_GBps": bandwidth / 1e9,
        "matvec_pass_ms": 1000 * matvec_s,
        "results": rows,
    }
    if args.continuous:
        result["continuous"] = bench_continuous(engine, prompts, args.continuous, args.new_tokens)
    atomic_write_json(args.out, result)
    for row in rows:
        print(summary_line(row, floor_ms, matvec_s), file=sys.stderr)
    for line in skipped_lines(result["peers"]):
        print(line, file=sys.stderr)
    print(json.dumps({"out": args.out}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
