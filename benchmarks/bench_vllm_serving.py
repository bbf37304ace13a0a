"""Serving benchmark on vLLM: the embedded model against itself pruned by 8 layers; writes JSON.

    python benchmarks/bench_vllm_serving.py --vllm-python .venv-vllm/bin/python
    python benchmarks/bench_vllm_serving.py --vllm-python ... --concurrency 1,4,16 --mix 128:32,512:64 --requests 32

The pruned checkpoint (``--strategy reverse --drop 8``) is written once under ``--work``. Each model gets
its own vLLM server bound to every core this process may use (recorded, with the load before and after);
see ``fastprune.bench.serving`` for the metrics and their intervals.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from fastprune.bench.serving import ServingSettings, parse_mix, run_serving_bench
from fastprune.engines.vllm_server import ServerOptions

RESULTS = Path(__file__).with_name("results")


def pruned_checkpoint(work: Path, drop: int) -> str:
    from fastprune.models import load_model
    from fastprune.prune.api import choose_layers, prune_and_save

    out = work / f"smollm2-135m-reverse-drop{drop}"
    if not (out / "config.json").is_file():
        loaded = load_model("smollm2-135m", dtype="float32", device="cpu")
        removed, _ = choose_layers(loaded, "reverse", drop=drop)
        prune_and_save(loaded, removed, out, strategy="reverse", overwrite=True)
    return str(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vllm-python", required=True)
    parser.add_argument("--concurrency", default="1,4")
    parser.add_argument("--mix", default="32:16,64:32")
    parser.add_argument("--requests", type=int, default=12, help="per concurrency and round")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--drop", type=int, default=8)
    parser.add_argument("--work", type=Path, default=Path("runs/bench-vllm-serving"))
    parser.add_argument("--out", type=Path, default=RESULTS / "vllm-serving-cpu-smollm2.json")
    args = parser.parse_args()
    settings = ServingSettings(
        models=["smollm2-135m", pruned_checkpoint(args.work, args.drop)],
        concurrencies=[int(c) for c in args.concurrency.split(",")], mix=parse_mix(args.mix),
        requests=args.requests, rounds=args.rounds, warmup=2, seed=0, out=str(args.work / "serving"))
    options = ServerOptions(python=args.vllm_python, max_model_len=max(p + n for p, n in settings.mix))
    run_serving_bench(settings, options)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(args.work / "serving" / "bench_serving.json", args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
