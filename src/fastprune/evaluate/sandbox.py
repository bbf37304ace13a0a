"""Run untrusted generated code: one subprocess per program inside an OS sandbox, then categorised.

Each program runs in fresh user, PID, network, mount and IPC namespaces as an unprivileged uid (neither
root inside nor outside), in a root of read-only binds of what the interpreter needs plus private tmpfs
``/sandbox`` (cwd, HOME), ``/tmp`` and ``/dev/shm``, with no network interface and a scrubbed environment
(``isolation.py`` builds the command, ``sandbox_init.py`` runs inside). Inside, the Python-level fence
stays as a second layer: rlimits (address space, CPU seconds, file size, processes) and the fork/exec/socket
entry points of ``os``, ``posix``, ``subprocess`` and ``socket`` removed. On timeout the whole PID
namespace is killed (killing its PID 1 kills every process in it), and it dies anyway when the program
exits, so double-forked or ``setsid`` children never outlive it. stdout is discarded and stderr goes to a
size-limited file, so a print loop cannot fill memory.

``require_sandbox`` decides once per run which kind is used: the OS sandbox, or (only when the caller
explicitly allows it) ``"none"``, the Python-level fence alone. A failure is categorised from the last
exception line of stderr (see ``categorize``).
"""

from __future__ import annotations

import logging
import os
import select
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from fastprune.errors import FastpruneError
from fastprune.evaluate import isolation

logger = logging.getLogger(__name__)

CATEGORIES = ("unbalanced_brackets", "syntax", "undefined_name", "timeout", "assertion", "other")
_MAX_ERROR_CHARS = 300
_BRACKET_MESSAGES = ("was never closed", "unmatched", "opening parenthesis", "unexpected eof")
UNSANDBOXED_WARNING = ("WARNING: model-written code ran WITHOUT an OS sandbox (--allow-unsandboxed-exec): "
                       "only the Python-level fence stood between it and this machine")


class SandboxSetupError(FastpruneError):
    """The sandbox itself could not be set up (not the program's fault)."""


_warned = False


def require_sandbox(allow_unsandboxed: bool = False, log=None) -> str:
    """The sandbox kind this run uses ("bwrap", "unshare", or "none" when allowed); detection runs once.

    Without an OS sandbox and without ``allow_unsandboxed`` this refuses, naming what failed and how to
    enable it. With it, the warning goes to ``log`` (stderr by default) once.
    """
    global _warned
    found = isolation.detect()
    if found.kind != "none":
        return found.kind
    if not allow_unsandboxed:
        raise FastpruneError(f"refusing to run model-written code without an OS sandbox: {found.problem}; "
                             "or pass --allow-unsandboxed-exec to run it behind the Python-level fence only "
                             "(unsafe on a machine that holds your data)")
    if not _warned:
        (log or logger.warning)(f"{UNSANDBOXED_WARNING} ({found.problem})")
        _warned = True
    return "none"


@dataclass(frozen=True)
class ExecResult:
    passed: bool
    category: str  # "passed" or one of CATEGORIES
    error: str  # the last exception line (or "timeout after Ns"); "" when passed
    returncode: int | None
    seconds: float
    sandbox: str = ""  # the kind it ran in: "bwrap", "unshare" or "none"


def last_error_line(stderr: str) -> str:
    """The final ``Type: message`` line of a traceback (the line that names the exception)."""
    for line in reversed(stderr.strip().splitlines()):
        if line and not line[0].isspace() and not line.startswith("Traceback"):
            line = line.strip()
            return line if len(line) <= _MAX_ERROR_CHARS else line[:_MAX_ERROR_CHARS] + "..."
    return ""


def categorize(error_line: str) -> str:
    """Failure category from an exception line: brackets / syntax / undefined name / assertion / other."""
    kind = error_line.split(":", 1)[0].strip().rsplit(".", 1)[-1]
    message = error_line.lower()
    if kind in ("SyntaxError", "IndentationError", "TabError"):
        return "unbalanced_brackets" if any(m in message for m in _BRACKET_MESSAGES) else "syntax"
    if kind in ("NameError", "UnboundLocalError"):
        return "undefined_name"
    if kind == "AssertionError":
        return "assertion"
    return "other"


def _wait(proc: subprocess.Popen, timeout: float) -> bool:
    """Whether ``proc`` exited within ``timeout`` seconds. A pidfd wakes us the moment it exits;
    ``Popen.wait(timeout)`` polls with sleeps of up to 50 ms, a cost paid by every program."""
    try:
        pidfd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        return True
    try:
        ready, _, _ = select.select([pidfd], [], [], timeout)
    finally:
        os.close(pidfd)
    return bool(ready)


def run_program(
    code: str, timeout: float = 10.0, memory_mb: int = 1024, max_procs: int = 64, stderr_kb: int = 256,
    kind: str | None = None,
) -> ExecResult:
    """Execute ``code`` in the sandbox ``kind`` (default: the OS sandbox, or an error where there is none);
    passed means exit status 0 within ``timeout`` seconds."""
    kind = kind or require_sandbox(False)
    with tempfile.TemporaryDirectory(prefix="fastprune-sandbox-") as tmp:
        solution, err_path, root = Path(tmp, "solution.py"), Path(tmp, "stderr.txt"), Path(tmp, "root")
        solution.write_text(code, encoding="utf-8")
        root.mkdir()
        status_read, status_write = os.pipe()
        config = {"solution": str(solution), "root": str(root), "status_fd": status_write,
                  "memory_bytes": memory_mb << 20, "cpu_seconds": int(timeout) + 2,
                  "file_bytes": stderr_kb << 10, "max_procs": max_procs, "tmpfs_mb": 64}
        home = "/sandbox" if kind != "none" else tmp
        env = {"PATH": "/usr/bin:/bin", "HOME": home, "TMPDIR": "/tmp", "LANG": "C.UTF-8",
               "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"}
        start = time.monotonic()
        try:
            with open(err_path, "wb") as err:
                try:
                    proc = subprocess.Popen(
                        isolation.command(kind, config), cwd=tmp, env=env, stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL, stderr=err, pass_fds=(status_write,), start_new_session=True,
                    )
                except OSError as exc:
                    os.close(status_read)
                    raise SandboxSetupError(f"the {kind} sandbox could not start: {exc}") from exc
                os.close(status_write)
                status_write = -1
                try:
                    timed_out = not _wait(proc, timeout)
                finally:
                    if proc.poll() is None:  # a normal exit of its PID 1 already ended the namespace
                        isolation.kill(kind, proc.pid)
                    try:
                        proc.wait(timeout=30)
                    except subprocess.TimeoutExpired:  # a stuck teardown: at least end the launcher
                        isolation.kill("none", proc.pid)
                        proc.wait()
            with os.fdopen(status_read, "rb") as f:
                status = f.read(4096).decode("utf-8", errors="replace")
        finally:
            if status_write >= 0:
                os.close(status_write)
        seconds = time.monotonic() - start
        with open(err_path, "rb") as f:  # only the tail holds the exception line
            f.seek(max(0, err_path.stat().st_size - 8192))
            stderr = f.read().decode("utf-8", errors="replace")
    if status != "ok" and not timed_out:
        reason = status or last_error_line(stderr) or f"exit status {proc.returncode}"
        raise SandboxSetupError(f"the {kind} sandbox could not start a program: {reason}")
    if timed_out:
        return ExecResult(False, "timeout", f"timeout after {timeout:g}s", None, seconds, kind)
    if proc.returncode == 0:
        return ExecResult(True, "passed", "", 0, seconds, kind)
    line = last_error_line(stderr)
    if not line and proc.returncode < 0:
        sig = -proc.returncode
        if sig == signal.SIGXCPU:  # the CPU-seconds fence fired before the wall clock
            return ExecResult(False, "timeout", "CPU time limit", proc.returncode, seconds, kind)
        line = f"killed by signal {signal.Signals(sig).name}"
    error = line or f"exit status {proc.returncode}"
    return ExecResult(False, categorize(line), error, proc.returncode, seconds, kind)


def sandbox_kind(results: Sequence[ExecResult]) -> str:
    """The kind a batch ran in, for result files ("bwrap", "unshare", "none"; "" for an empty batch)."""
    kinds = sorted({r.sandbox for r in results})
    return "+".join(kinds)


def run_programs(
    programs: Sequence[str], timeout: float = 10.0, memory_mb: int = 1024, workers: int = 2,
    allow_unsandboxed: bool = False,
) -> list[ExecResult]:
    """``run_program`` over many programs, ``workers`` at a time; results in input order."""
    if not programs:
        return []
    kind = require_sandbox(allow_unsandboxed)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(lambda c: run_program(c, timeout, memory_mb, kind=kind), programs))
