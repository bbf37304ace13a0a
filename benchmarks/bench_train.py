"""Full-SFT training throughput and MFU of fastprune's training step, written as JSON.

It times the real step (``fastprune.train.loop.optimizer_step``: forward, response-only loss, backward,
clipping, AdamW) on random token batches of ``--seq-len`` tokens with every position a target, FSDP2 with
bf16 compute / fp32 reduction on GPU, plain fp32 on CPU.

MFU = estimated training FLOPs per token (``fastprune.train.metrics.flops_per_token``) x tokens/s / peak.
On a known GPU the peak is the data-sheet dense bf16 number; on CPU there is no meaningful data-sheet
number, so the peak is a matmul measured just before the run on the same (possibly shared) machine, and
the JSON says so.

    python benchmarks/bench_train.py                              # GPU: random:llama-3.2-1b bf16
    python benchmarks/bench_train.py --model tiny:llama:4 --seq-len 256 --batch-size 2   # a quick CPU run
    torchrun --nproc_per_node=8 benchmarks/bench_train.py         # FSDP2 across GPUs
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time

import torch


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="default: random:llama-3.2-1b on GPU, smollm2-135m on CPU")
    p.add_argument("--seq-len", type=int, default=None, help="default 2048 on GPU, 256 on CPU")
    p.add_argument("--batch-size", type=int, default=None, help="sequences per rank; default 8 GPU, 2 CPU")
    p.add_argument("--steps", type=int, default=None, help="timed steps; default 20 GPU, 3 CPU")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps first; default 5 GPU, 1 CPU")
    p.add_argument("--activation-checkpointing", action="store_true")
    p.add_argument("--compile", action="store_true", help="torch.compile each decoder layer (GPU)")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default="bench_train.json")
    return p.parse_args(argv)


def main(argv=None) -> int:
    from fastprune.models import load_model
    from fastprune.train.collate import Sequence, collate, to_device
    from fastprune.train.distributed import setup, shard
    from fastprune.train.loop import enable_activation_checkpointing, optimizer_step
    from fastprune.train.metrics import flops_per_token, gpu_peak_flops, measure_matmul_peak
    from fastprune.train.modes import prepare

    args = parse_args(argv)
    env = setup(args.device)
    gpu = env.device.type == "cuda"
    model_spec = args.model or ("random:llama-3.2-1b" if gpu else "smollm2-135m")
    seq_len = args.seq_len or (2048 if gpu else 256)
    batch = args.batch_size or (8 if gpu else 2)
    steps = args.steps or (20 if gpu else 3)
    warmup = args.warmup if args.warmup is not None else (5 if gpu else 1)

    peak_note = "data-sheet dense bf16 peak"
    peak = gpu_peak_flops(env.device)
    if peak is None:
        peak = measure_matmul_peak(env.device, torch.float32 if not gpu else torch.bfloat16)
        peak_note = "measured matmul peak on this machine just before the run (CPU: no data-sheet peak applies)"

    loaded = load_model(model_spec, dtype="float32", device="cpu", seed=0)
    base = loaded.model
    mode = prepare(base, loaded.adapter.layers, "full")
    fpt = flops_per_token(base, mode.layers, 0, seq_len)
    if args.activation_checkpointing:
        enable_activation_checkpointing(base)
    if args.compile:
        for layer in mode.layers:
            layer.compile()
    if env.sharded:
        shard(base, mode.layers, env)
    else:
        base.to(env.device)
    params = [p for p in base.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-5, betas=(0.9, 0.99), weight_decay=1e-4)
    vocab = base.config.get_text_config().vocab_size
    gen = torch.Generator().manual_seed(env.rank)

    def micro():
        ids = torch.randint(0, vocab, (batch, seq_len + 1), generator=gen)
        seqs = [Sequence(row[:-1].tolist(), row[1:].tolist(), [seq_len]) for row in ids]
        return to_device(collate(seqs, 0, packed=False), env.device)

    tokens_per_step = batch * seq_len * env.world
    times = []
    for i in range(warmup + steps):
        data = micro()
        if gpu:
            torch.cuda.synchronize(env.device)
        t0 = time.perf_counter()
        optimizer_step(base, [data], tokens_per_step, env.world, params, optimizer, 1.0)
        if gpu:
            torch.cuda.synchronize(env.device)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
        if env.is_main:
            print(f"step {i + 1}/{warmup + steps}: {time.perf_counter() - t0:.3f}s", file=sys.stderr)
    step_s = sum(times) / len(times)
    tps = tokens_per_step / step_s
    result = {
        "benchmark": "train_full_sft", "model": model_spec, "params": mode.total,
        "device": torch.cuda.get_device_name(env.device) if gpu else f"cpu ({platform.processor() or 'unknown'}, "
                  f"{torch.get_num_threads()} threads)",
        "world_size": env.world, "fsdp2": env.sharded, "compute_dtype": "bfloat16" if gpu else "float32",
        "seq_len": seq_len, "batch_per_rank": batch, "timed_steps": steps, "warmup_steps": warmup,
        "activation_checkpointing": args.activation_checkpointing, "compile": args.compile,
        "step_time_s": step_s, "tokens_per_s": tps, "tokens_per_s_per_device": tps / env.world,
        "flops_per_token": fpt, "peak_flops_per_device": peak, "peak_source": peak_note,
        "mfu": fpt * tps / (peak * env.world),
        "max_memory_gib": torch.cuda.max_memory_allocated(env.device) / 2**30 if gpu else None,
        "torch": torch.__version__,
    }
    if env.is_main:
        from fastprune.provenance import run_provenance

        result["provenance"] = run_provenance(threads=torch.get_num_threads())
        from fastprune.utils_io import atomic_write_json

        atomic_write_json(args.out, result)
        print(json.dumps(result, indent=1))
    env.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
