"""Run by the vLLM environment's Python, not by fastprune: ``python vllm_offline.py JOB.json RESULT.json``.

One process loads each checkpoint of the job in turn with vLLM's offline ``LLM`` API and decodes the
given token-id prompts greedily (EOS ignored, so every answer has the asked length). A checkpoint that
fails to load or run is recorded with its error and the next one still runs. Only the standard library
and vLLM are imported here: fastprune is not installed in that environment.

JOB: {"checkpoints": [{"path": DIR, "prompts": [[ids], ...]}, ...], "max_tokens": N, "max_model_len": L,
      "dtype": "float32"}
RESULT: {"vllm_version": V, "results": {DIR: {"ok": true, "tokens": [[ids], ...], "load_seconds": s}
                                          | {"ok": false, "error": "..."}}}
"""

from __future__ import annotations

import gc
import json
import os
import signal
import sys
import time
import traceback


def _write(path: str, data: dict) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


def _kill_group(signum, frame):
    # Started as its own process group: take vLLM's engine processes down with this one.
    os.killpg(os.getpgrp(), signal.SIGKILL)


def main(job_path: str, result_path: str) -> int:
    signal.signal(signal.SIGTERM, _kill_group)
    # Engine and worker in this process: vLLM's imports and start-up are paid once, not per checkpoint.
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    with open(job_path) as f:
        job = json.load(f)
    import vllm
    from vllm import LLM, SamplingParams

    params = SamplingParams(temperature=0.0, max_tokens=job["max_tokens"], ignore_eos=True, detokenize=False)
    out = {"vllm_version": vllm.__version__, "results": {}}
    for entry in job["checkpoints"]:
        checkpoint = entry["path"]
        prompts = [{"prompt_token_ids": ids} for ids in entry["prompts"]]
        started = time.monotonic()
        llm = None
        try:
            llm = LLM(model=checkpoint, dtype=job.get("dtype", "float32"), enforce_eager=True,
                      max_model_len=job["max_model_len"], seed=0, skip_tokenizer_init=True,
                      distributed_executor_backend="uni")
            load = time.monotonic() - started
            generated = llm.generate(prompts, params, use_tqdm=False)
            out["results"][checkpoint] = {"ok": True, "load_seconds": round(load, 2),
                                          "tokens": [list(g.outputs[0].token_ids) for g in generated]}
        except Exception as exc:  # any failure of one checkpoint is its result, not the job's end
            out["results"][checkpoint] = {"ok": False, "error": f"{type(exc).__name__}: {exc}",
                                          "traceback": traceback.format_exc()[-3000:]}
        finally:
            if llm is not None:
                engine = getattr(llm, "llm_engine", None)
                shutdown = getattr(getattr(engine, "engine_core", None), "shutdown", None)
                if shutdown is not None:
                    shutdown()
                del llm
            gc.collect()
        _write(result_path, out)  # partial results survive a crash of a later checkpoint
        print(f"vllm_offline: {checkpoint}: {'ok' if out['results'][checkpoint]['ok'] else 'FAILED'} "
              f"({time.monotonic() - started:.1f} s)", flush=True)
    _write(result_path, out)
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1], sys.argv[2])
    sys.stdout.flush()
    sys.stderr.flush()
    # vLLM's in-process engine leaves non-daemon threads that can keep a normal exit waiting forever; the
    # result is already written (atomically), so leave at once.
    os._exit(code)
