"""Atomic file and directory writes: a killed run never leaves a half-written output behind."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from fastprune.errors import FastpruneError


def process_umask() -> int:
    """The process's umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def chmod_as_created(path: str | os.PathLike, directory: bool = False) -> None:
    """Give ``path`` the permissions a plain ``open()`` (or ``mkdir``) would under the umask: temp files
    and directories are created 0600/0700, and outputs are meant for other users and serving processes."""
    os.chmod(path, (0o777 if directory else 0o666) & ~process_umask())


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temp file path beside ``path`` for a writer that wants a file name (a figure, a tensor
    file); on success it is renamed onto ``path``, on any exception removed and ``path`` left untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        chmod_as_created(tmp)
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` through a temp file in the same directory and an atomic rename."""
    with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def atomic_write_json(path: str | os.PathLike, obj, indent: int | None = 1) -> None:
    atomic_write_text(path, json.dumps(obj, indent=indent, allow_nan=True) + "\n")


@contextlib.contextmanager
def atomic_directory(final: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temp directory beside ``final``; on success it is renamed to ``final``.

    On any exception the temp directory is removed and ``final`` is untouched. With ``overwrite`` an
    existing ``final`` is replaced only after the new content is complete.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    chmod_as_created(tmp, directory=True)
    try:
        yield tmp
        if final.exists():
            if not overwrite:
                raise FileExistsError(f"{final} already exists")
            old = final.with_name(f".{final.name}.old")
            if old.exists():
                shutil.rmtree(old)
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def require_output_dir(path: str | os.PathLike, flag: str = "--out") -> Path:
    """``path`` as an output folder: refused (before any work) when it exists as something else."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise FastpruneError(f"{flag} {path} is an existing file, not a folder; choose another {flag}")
    return path


def slug(text: str) -> str:
    """A file-name-safe rendering of a model or task name."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", text.strip("/")).strip("_.")
    return s[-80:] or "model"
