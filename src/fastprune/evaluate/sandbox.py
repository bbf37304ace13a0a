"""Run untrusted generated code: one ``python -I`` subprocess per program, fenced in, then categorised.

Fences (best effort; this is damage control for model-written code, not a security boundary):
- a fresh temp directory as the working dir and HOME, a minimal environment (no proxy variables);
- a guard preamble, run before the program, that lowers resource limits (address space, CPU seconds,
  file size, processes) and removes the fork/exec/spawn and socket entry points from ``os``, ``posix``,
  ``subprocess`` and ``socket``; RLIMIT_NPROC is ignored by the kernel for root, so the removed entry
  points are the fork fence there;
- its own session (``start_new_session``), so on timeout ``os.killpg`` ends it and anything it started;
- stdout is discarded and stderr goes to a size-limited file, so a print loop cannot fill memory.

A failure is categorised from the last exception line of stderr (see ``categorize``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

CATEGORIES = ("unbalanced_brackets", "syntax", "undefined_name", "timeout", "assertion", "other")
_MAX_ERROR_CHARS = 300
_BRACKET_MESSAGES = ("was never closed", "unmatched", "opening parenthesis", "unexpected eof")

# Runs inside the child before the program. Kept free of anything the program could rely on.
_GUARD = r'''
import resource, sys
def _limit(which, value):
    try:
        resource.setrlimit(which, (value, value))
    except (ValueError, OSError):
        pass
_limit(resource.RLIMIT_AS, {memory_bytes})
_limit(resource.RLIMIT_CPU, {cpu_seconds})
_limit(resource.RLIMIT_FSIZE, {file_bytes})
_limit(resource.RLIMIT_NPROC, {max_procs})
_limit(resource.RLIMIT_CORE, 0)

def _blocked(*args, **kwargs):
    raise OSError("blocked by the fastprune sandbox")

import os, posix, socket, _socket, subprocess
for _mod in (os, posix):
    for _name in ("fork", "forkpty", "vfork", "system", "popen", "execv", "execve", "execl", "execle",
                  "execlp", "execlpe", "execvp", "execvpe", "spawnl", "spawnle", "spawnlp", "spawnlpe",
                  "spawnv", "spawnve", "spawnvp", "spawnvpe", "posix_spawn", "posix_spawnp", "kill",
                  "killpg"):
        if hasattr(_mod, _name):
            setattr(_mod, _name, _blocked)
subprocess.Popen = _blocked
for _mod in (socket, _socket):
    for _name in ("socket", "create_connection", "create_server", "socketpair", "getaddrinfo", "fromfd"):
        if hasattr(_mod, _name):
            setattr(_mod, _name, _blocked)
del _mod, _name

_path = sys.argv[1]
with open(_path, encoding="utf-8") as _f:
    _source = _f.read()
exec(compile(_source, "solution.py", "exec"), {{"__name__": "__main__", "__builtins__": __builtins__}})
'''


@dataclass(frozen=True)
class ExecResult:
    passed: bool
    category: str  # "passed" or one of CATEGORIES
    error: str  # the last exception line (or "timeout after Ns"); "" when passed
    returncode: int | None
    seconds: float


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


def run_program(
    code: str, timeout: float = 10.0, memory_mb: int = 1024, max_procs: int = 64, stderr_kb: int = 256
) -> ExecResult:
    """Execute ``code`` in a fenced subprocess; passed means exit status 0 within ``timeout`` seconds."""
    with tempfile.TemporaryDirectory(prefix="fastprune-sandbox-") as tmp:
        solution, guard, err_path = Path(tmp, "solution.py"), Path(tmp, "guard.py"), Path(tmp, "stderr.txt")
        solution.write_text(code, encoding="utf-8")
        guard.write_text(_GUARD.format(
            memory_bytes=memory_mb << 20, cpu_seconds=int(timeout) + 2, file_bytes=stderr_kb << 10,
            max_procs=max_procs,
        ), encoding="utf-8")
        env = {"PATH": "/usr/bin:/bin", "HOME": tmp, "LANG": "C.UTF-8", "PYTHONHASHSEED": "0",
               "PYTHONDONTWRITEBYTECODE": "1"}
        start = time.monotonic()
        with open(err_path, "wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-I", str(guard), str(solution)], cwd=tmp, env=env,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True,
            )
            timed_out = False
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                # the whole session: the program and anything it managed to start
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        seconds = time.monotonic() - start
        with open(err_path, "rb") as f:  # only the tail holds the exception line
            f.seek(max(0, err_path.stat().st_size - 8192))
            stderr = f.read().decode("utf-8", errors="replace")
    if timed_out:
        return ExecResult(False, "timeout", f"timeout after {timeout:g}s", None, seconds)
    if proc.returncode == 0:
        return ExecResult(True, "passed", "", 0, seconds)
    line = last_error_line(stderr)
    if not line and proc.returncode < 0:
        sig = -proc.returncode
        if sig == signal.SIGXCPU:  # the CPU-seconds fence fired before the wall clock
            return ExecResult(False, "timeout", "CPU time limit", proc.returncode, seconds)
        line = f"killed by signal {signal.Signals(sig).name}"
    error = line or f"exit status {proc.returncode}"
    return ExecResult(False, categorize(line), error, proc.returncode, seconds)


def run_programs(
    programs: Sequence[str], timeout: float = 10.0, memory_mb: int = 1024, workers: int = 2
) -> list[ExecResult]:
    """``run_program`` over many programs, ``workers`` at a time; results in input order."""
    if not programs:
        return []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(lambda c: run_program(c, timeout, memory_mb), programs))
