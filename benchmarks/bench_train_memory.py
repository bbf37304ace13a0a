"""Peak host memory per rank of FSDP2 recovery training on CPU (gloo), meta-device sharded load vs a full copy.

For each (path, world size) it runs ``fastprune.train.train`` under torchrun on a random-weight model saved as a
safetensors checkpoint (what users train: a pruned checkpoint dir), LoRA in bf16 master weights, short
sequences, 1-2 steps, and records per rank: RSS after imports (the Python + torch floor), RSS once the model
is loaded and sharded, and the peak RSS (``ru_maxrss``) through training and through the final export.

- ``sharded``: today's code: built on ``meta``, each rank reads only its rows from the safetensors files.
- ``full-copy``: what the code did before: every rank loads the whole model, then shards it.

Target (issue 19): the per-rank peak above the floor within 1.3x of ``model bytes / world + activations``,
with "activations" the step's own overhead (activations, the all-gathered FSDP unit, logits) measured at one
rank (peak during training minus RSS after load). A full copy per rank at a world size too big for this
machine is not run; its per-rank peak is computed: every rank holds the whole model while loading (the measured
load peak at 2 ranks), and at least the sharded run's peak afterwards.

    python benchmarks/bench_train_memory.py                                  # 1, 2, 4 ranks; full copy at 1, 2
    python benchmarks/bench_train_memory.py --model random:llama-3.2-1b --worlds 1,2 --out mem.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

GIB = 1024**3


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def _warm_up_imports() -> None:
    """The floor is taken after what every run imports and initialises whatever the model size (transformers'
    model code, peft, the tokenizer stack), so the rest is the model and its step."""
    from fastprune.models import byte_tokenizer, tiny_model
    from fastprune.train.modes import wrap_lora

    wrap_lora(tiny_model("llama", 1), r=2, alpha=4, dropout=0.0)
    byte_tokenizer()


def worker(args) -> None:
    """One rank of one configuration (run by torchrun); writes its measurements to ``args.result``."""
    import torch.distributed as dist

    import fastprune.train.loop as loop
    from fastprune.train import TrainConfig, train

    rank = int(os.environ.get("RANK", "0"))
    dist.init_process_group("gloo")
    _warm_up_imports()
    record = {"rank": rank, "floor_rss": _rss_bytes()}
    if args.path == "full-copy":
        def full_copy(spec, dtype, env, trust_remote_code, seed, prepare_mode):
            from fastprune.models import load_model
            from fastprune.train.distributed import shard

            loaded = load_model(spec, dtype=dtype, device="cpu", seed=seed)
            mode = prepare_mode(loaded)
            shard(mode.model, mode.layers, env)
            return loaded, mode

        loop.load_sharded = full_copy
    real_load = loop.load_sharded

    def measured_load(*a, **kw):
        out = real_load(*a, **kw)
        record["loaded_rss"], record["load_peak"] = _rss_bytes(), _peak_bytes()
        return out

    loop.load_sharded = measured_load

    def on_step(rec):
        record["train_peak"] = _peak_bytes()
        record["step_time_s"] = rec["step_time_s"]

    try:
        train(TrainConfig(model=args.checkpoint, data=args.data, out=args.train_out, mode="lora", dtype="bfloat16",
                          max_steps=args.steps, batch_size=1, max_seq_len=args.seq_len, device="cpu",
                          warmup_steps=0, overwrite=True, chat_template=False), on_step=on_step)
    finally:
        dist.destroy_process_group()
    record["final_peak"] = _peak_bytes()
    Path(args.result).write_text(json.dumps(record))


def _write_inputs(work: Path, model: str, dtype: str) -> tuple[Path, Path, int]:
    """The random model as a checkpoint dir (in a child process, so this one stays small) and a data file."""
    ckpt = work / "checkpoint"
    if not (ckpt / "config.json").is_file():
        code = ("import sys; from fastprune.models import load_model; m = load_model(sys.argv[1], dtype=sys.argv[2]);"
                " m.model.save_pretrained(sys.argv[3]); m.tokenizer.save_pretrained(sys.argv[3])")
        subprocess.run([sys.executable, "-c", code, model, dtype, str(ckpt)], check=True)
    data = work / "rows.jsonl"
    data.write_text("".join(json.dumps({"id": str(i), "prompt": f"What is {i} + {i}?",
                                        "response": f"{i} + {i} = {2 * i}."}) + "\n" for i in range(16)))
    from safetensors import safe_open

    nbytes = 0
    for f in ckpt.glob("*.safetensors"):
        with safe_open(str(f), framework="pt") as st:
            for k in st.keys():  # noqa: SIM118 - safe_open is not iterable
                t = st.get_slice(k)
                shape, itemsize = t.get_shape(), {"BF16": 2, "F16": 2, "F32": 4}[t.get_dtype()]
                n = 1
                for d in shape:
                    n *= d
                nbytes += n * itemsize
    return ckpt, data, nbytes


def run_config(args, path: str, world: int, ckpt: Path, data: Path, work: Path) -> list[dict]:
    results = [work / f"{path}-{world}-rank{r}.json" for r in range(world)]
    for r in results:
        r.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={world}", __file__,
           "--worker", "--path", path, "--checkpoint", str(ckpt), "--data", str(data), "--steps", str(args.steps),
           "--seq-len", str(args.seq_len), "--train-out", str(work / f"out-{path}-{world}"),
           "--result", str(work / f"{path}-{world}-rank%R.json")]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "TRANSFORMERS_VERBOSITY": "error"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{path} at {world} ranks failed:\n{proc.stderr[-3000:]}")
    return [json.loads(r.read_text()) for r in results]


def summarise(runs: dict, model_bytes: int) -> dict:
    one = runs.get(("sharded", 1))
    act = max(r["train_peak"] - r["loaded_rss"] for r in one) if one else None
    out = {"activations_bytes_measured_at_1_rank": act, "configs": []}
    for (path, world), ranks in sorted(runs.items()):
        worst = max(ranks, key=lambda r: r["train_peak"] - r["floor_rss"])
        above = worst["train_peak"] - worst["floor_rss"]
        target = model_bytes / world + (act or 0)
        out["configs"].append({
            "path": path, "world": world, "measured": True, "ranks": ranks,
            "max_rank_peak_above_floor_gib": above / GIB,
            "max_rank_final_peak_above_floor_gib": max(r["final_peak"] - r["floor_rss"] for r in ranks) / GIB,
            "target_gib": target / GIB, "ratio_to_target": above / target, "within_1_3x": above / target <= 1.3})
    # Unmeasured full copies: every rank holds the whole model while loading (its measured load peak above the
    # floor does not shrink with the world size), and afterwards at least what the sharded run holds.
    loads = [max(r["load_peak"] - r["floor_rss"] for r in ranks) for (p, w), ranks in runs.items()
             if p == "full-copy" and w > 1]
    sharded = {w: max(r["train_peak"] - r["floor_rss"] for r in ranks) for (p, w), ranks in runs.items()
               if p == "sharded"}
    if loads:
        for w in sorted(sharded):
            if ("full-copy", w) not in runs:
                est = max(max(loads), sharded[w])
                out["configs"].append({"path": "full-copy", "world": w, "measured": False,
                                       "max_rank_peak_above_floor_gib": est / GIB,
                                       "computed_from": "max(the full copy's measured load peak at >1 rank, the "
                                                        "sharded run's peak at this world size)",
                                       "target_gib": (model_bytes / w + (act or 0)) / GIB})
    return out


# Llama-3.1-70B's shape (no config of it ships with fastprune: it is only counted here, on meta).
_LLAMA_70B = dict(model_type="llama", hidden_size=8192, intermediate_size=28672, num_hidden_layers=80,
                  num_attention_heads=64, num_key_value_heads=8, head_dim=128, vocab_size=128256,
                  tie_word_embeddings=False)


def _shape_bytes(config, itemsize: int) -> tuple[int, int]:
    """(all weights, the largest FSDP unit that is all-gathered whole: one decoder layer or the root) in bytes."""
    import torch

    from fastprune.train.sharded_load import meta_model

    model = meta_model(config, torch.bfloat16)
    layers = model.model.layers
    layer = sum(p.numel() for p in layers[0].parameters())
    total = sum(p.numel() for p in model.parameters())
    root = total - layer * len(layers)
    return total * itemsize, max(layer, root) * itemsize


def project(result: dict, worlds=(8, 16)) -> dict:
    """Per-rank host memory for 8B and 70B from the measured sharded runs: above(w) = c * M / w + d fitted by
    least squares over the measured world sizes (c: bytes held per weight byte owned; d: the step's own
    overhead on the measured model, mostly its all-gathered largest unit), carried over with d scaled by
    the largest unit's size. Activations for other batch or sequence sizes are not included."""
    import numpy as np
    from transformers import AutoConfig

    from fastprune.models.loader import random_config

    m1 = result["model_bytes"]
    pts = [(c["world"], c["max_rank_peak_above_floor_gib"] * GIB) for c in result["configs"]
           if c["path"] == "sharded" and c["measured"]]
    design = np.array([[m1 / w, 1.0] for w, _ in pts])
    (c, d), *_ = np.linalg.lstsq(design, np.array([y for _, y in pts]), rcond=None)
    itemsize = 2 if result["dtype"] in ("bfloat16", "float16") else 4
    _, unit1 = _shape_bytes(random_config(result["model"].removeprefix("random:")), itemsize)
    floor = max(r["floor_rss"] for cfg in result["configs"] if cfg["measured"] for r in cfg["ranks"])
    out = {"fit": {"c_bytes_per_owned_weight_byte": float(c), "d_step_overhead_gib": float(d) / GIB,
                   "measured_worlds": [w for w, _ in pts], "floor_gib": floor / GIB,
                   "largest_unit_gib_measured_model": unit1 / GIB}, "models": []}
    targets = {"llama-3.1-8b": random_config("llama-3.1-8b"), "llama-3.1-70b": AutoConfig.for_model(**_LLAMA_70B)}
    for name, config in targets.items():
        total, unit = _shape_bytes(config, itemsize)
        for w in worlds:
            need = floor + c * total / w + d * unit / unit1
            out["models"].append({"model": name, "world": w, "weights_gib": total / GIB,
                                  "largest_unit_gib": unit / GIB, "per_rank_host_gib": need / GIB})
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="random:llama-3.2-1b")
    p.add_argument("--dtype", default="bfloat16", help="checkpoint and master-weight dtype (bf16 halves memory)")
    p.add_argument("--worlds", default="1,2,4", help="rank counts for the sharded path")
    p.add_argument("--full-copy-worlds", default="1,2", help="rank counts for the full copy (each holds the model)")
    p.add_argument("--steps", type=int, default=1)
    p.add_argument("--seq-len", type=int, default=32)
    p.add_argument("--threads", type=int, default=1, help="OMP threads per rank")
    p.add_argument("--workdir", default=None, help="keeps the random checkpoint between runs (default: a temp dir)")
    p.add_argument("--out", default="bench_train_memory.json")
    p.add_argument("--project", default=None, metavar="JSON",
                   help="only add the 8B/70B per-rank projection to an existing result file")
    # Internal: one rank of one configuration.
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    for name in ("--path", "--checkpoint", "--data", "--train-out", "--result"):
        p.add_argument(name, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        args.result = args.result.replace("%R", os.environ.get("RANK", "0"))
        worker(args)
        return 0

    from fastprune.provenance import run_provenance
    from fastprune.utils_io import atomic_write_json

    if args.project:
        result = json.loads(Path(args.project).read_text())
        runs = {(c["path"], c["world"]): c["ranks"] for c in result["configs"] if c["measured"]}
        result.update(summarise(runs, result["model_bytes"]))
        result["projection"] = project(result)
        atomic_write_json(args.project, result)
        for row in result["projection"]["models"]:
            print(f"{row['model']} x{row['world']}: {row['per_rank_host_gib']:.1f} GiB per rank")
        return 0

    before = run_provenance(threads=args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.workdir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        ckpt, data, model_bytes = _write_inputs(work, args.model, args.dtype)
        runs = {}
        plan = [("sharded", int(w)) for w in args.worlds.split(",") if w] + \
               [("full-copy", int(w)) for w in args.full_copy_worlds.split(",") if w]
        for path, world in plan:
            print(f"{path} at {world} rank(s) ...", file=sys.stderr, flush=True)
            runs[(path, world)] = run_config(args, path, world, ckpt, data, work)
    result = {"benchmark": "train_memory", "model": args.model, "dtype": args.dtype, "mode": "lora",
              "model_bytes": model_bytes, "steps": args.steps, "seq_len": args.seq_len, "batch_per_rank": 1,
              "n": "one run per configuration (peak RSS is close to deterministic; the load average says how "
                   "busy the shared machine was)",
              **summarise(runs, model_bytes), "provenance": before,
              "load_average_after": run_provenance(threads=args.threads)["load_average"]}
    result["projection"] = project(result)
    atomic_write_json(args.out, result)
    for c in result["configs"]:
        tag = "" if c["measured"] else " (computed)"
        print(f"{c['path']:>9} x{c['world']}: {c['max_rank_peak_above_floor_gib']:.2f} GiB per rank above the "
              f"floor; target {c['target_gib']:.2f} GiB{tag}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
