"""Run by the vLLM environment's Python, not by fastprune: ``python vllm_peer_worker.py CONFIG_JSON``.

The vLLM peer of ``bench_generate.py`` (``peer_vllm.py`` starts it). It loads one checkpoint with vLLM's
offline ``LLM`` API once, then answers generate commands, one JSON line in and one out, until ``quit``
or the end of its input. Each command is one batch of token-id prompts forced to exactly ``n`` new
tokens (``ignore_eos`` and ``min_tokens = max_tokens``); the batch is timed here around ``LLM.generate``
alone, as fastprune's engine is timed around ``engine.generate``, so the pipe, JSON and this process's
start are not in the number. Only the standard library and vLLM are imported: fastprune is not
installed in that environment.

CONFIG: {"model": DIR, "dtype": "float32", "max_model_len": L, "max_num_seqs": B}
IN:     {"op": "generate", "prompts": [[ids], ...], "n": N, "sampling": {"temperature": t, "top_p": p,
         "top_k": k}, "seeds": [s, ...] | null}   or   {"op": "quit"}
OUT:    first {"ready": true, "vllm_version": V, "dtype": D, "load_seconds": s} (or {"ready": false,
        "error": ...}); then per command {"seconds": s, "new_tokens": [n, ...], "token_ids": [[...], ...],
        "prompt_ids_match": bool} (or {"error": ...}).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback


def _kill_group(signum, frame):
    # Started as its own process group: take anything vLLM forked down with this process.
    os.killpg(os.getpgrp(), signal.SIGKILL)


def _sampling_params(SamplingParams, command: dict, index: int):
    sampling = command.get("sampling") or {}
    seeds = command.get("seeds")
    n = int(command["n"])
    # Every field that changes the work or the tokens is set, so the checkpoint's generation_config cannot
    # add a top-k or a penalty the other engines do not apply.
    return SamplingParams(n=1, temperature=float(sampling.get("temperature", 0.0)),
                          top_p=float(sampling.get("top_p", 1.0)), top_k=int(sampling.get("top_k", 0)),
                          min_p=0.0, repetition_penalty=1.0, presence_penalty=0.0, frequency_penalty=0.0,
                          seed=None if seeds is None else int(seeds[index]), max_tokens=n, min_tokens=n,
                          ignore_eos=True, detokenize=False)


def serve(config: dict, commands, reply) -> int:
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # engine in this process: nothing to poll
    started = time.monotonic()
    try:
        import vllm
        from vllm import LLM, SamplingParams

        llm = LLM(model=config["model"], dtype=config.get("dtype", "float32"), enforce_eager=True,
                  max_model_len=int(config["max_model_len"]), max_num_seqs=int(config.get("max_num_seqs", 8)),
                  seed=0, skip_tokenizer_init=True, distributed_executor_backend="uni",
                  # The benchmark repeats the same prompts: a prefix cache would skip their prefill.
                  enable_prefix_caching=False)
    except Exception as exc:  # the client reports it as the peer's failure
        reply({"ready": False, "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-3000:]})
        return 1
    engine_config = getattr(getattr(llm, "llm_engine", None), "model_config", None)
    dtype = str(getattr(engine_config, "dtype", config.get("dtype"))).replace("torch.", "")
    reply({"ready": True, "vllm_version": vllm.__version__, "dtype": dtype,
           "load_seconds": round(time.monotonic() - started, 2)})
    for line in commands:
        if not line.strip():
            continue
        command = json.loads(line)
        if command.get("op") == "quit":
            break
        try:
            prompts = [{"prompt_token_ids": [int(t) for t in ids]} for ids in command["prompts"]]
            params = [_sampling_params(SamplingParams, command, i) for i in range(len(prompts))]
            t0 = time.perf_counter()
            outputs = llm.generate(prompts, params, use_tqdm=False)
            seconds = time.perf_counter() - t0
            tokens = [list(o.outputs[0].token_ids) for o in outputs]
            reply({"seconds": seconds, "new_tokens": [len(t) for t in tokens], "token_ids": tokens,
                   "prompt_ids_match": all(list(o.prompt_token_ids) == p["prompt_token_ids"]
                                           for o, p in zip(outputs, prompts, strict=True))})
        except Exception as exc:  # one bad command is answered, the worker stays up
            reply({"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-3000:]})
    return 0


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, _kill_group)
    config = json.loads(argv[1])
    # vLLM logs to stdout: the protocol gets its own copy of stdout, and fd 1 goes to stderr (the log).
    channel = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)

    def reply(obj: dict) -> None:
        channel.write(json.dumps(obj) + "\n")
        channel.flush()

    return serve(config, sys.stdin, reply)


if __name__ == "__main__":
    code = main(sys.argv)
    sys.stdout.flush()
    sys.stderr.flush()
    # vLLM's in-process engine leaves non-daemon threads that can keep a normal exit waiting forever.
    os._exit(code)
