"""Append-only JSONL results that survive kills: one ``write`` per full line, fsync, torn tails dropped.

A run killed mid-write can leave at most a partial last line (no newline, or not valid JSON). On resume
that tail is cut off, the complete rows' ids are skipped, and appending continues: no torn line and no
duplicate ever reaches a reader that waits for the run to finish. The rows come back by id, so a resume can
check that they still answer the prompts of the source.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from fastprune.data.jsonl import complete_records
from fastprune.errors import FastpruneError


def recover(path: str | os.PathLike) -> dict[str, dict]:
    """The complete rows of ``path`` by id (as a string; missing file: none); a torn last line is cut away."""
    path = Path(path)
    if not path.exists():
        return {}
    records, good_end = complete_records(path, "{path}: line {line} is not valid JSON; the file was edited or "
                                               "corrupted (fix or remove it, or write to a new --out)")
    ids: dict[str, dict] = {}
    for number, row in records:
        if not isinstance(row, dict) or "id" not in row:
            raise FastpruneError(f"{path}: line {number} has no 'id'; it is not a fastprune generate output")
        if str(row["id"]) in ids:
            raise FastpruneError(f"{path}: id {row['id']!r} appears twice (line {number}); remove the duplicate")
        ids[str(row["id"])] = row
    if good_end < path.stat().st_size:
        with open(path, "r+b") as f:
            f.truncate(good_end)
            f.flush()
            os.fsync(f.fileno())
    return ids


class JsonlAppender:
    """Appends rows to a JSONL file, each as one ``os.write`` of a full line followed by ``fsync``."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._fd = -1  # opened (and the file created) with the first row: a run that writes none leaves none

    def write(self, row: dict) -> None:
        data = (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8")
        if self._fd < 0:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        written = os.write(self._fd, data)
        if written != len(data):
            # A short write on a regular file means the disk is full; the next recover() drops the tail.
            raise FastpruneError(f"{self.path}: short write ({written} of {len(data)} bytes); is the disk full?")
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
