"""Reading JSONL: one line reader for corpora, prompts, training rows, eval data and resumable outputs.

Every problem names the file and the line. Callers word the invalid-JSON error for their file (what the
file is for, what to do about it) through a template with ``{path}``, ``{line}``, ``{msg}`` and ``{col}``.
"""

from __future__ import annotations

import gzip
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path

from fastprune.errors import FastpruneError

INVALID = "{path}: line {line} is not valid JSON ({msg} at column {col}); a JSONL file holds one JSON object per line"
_BOM = b"\xef\xbb\xbf"


def numbered_lines(f) -> Iterator[tuple[int, int, bytes]]:
    """``(line number from 1, byte offset, content)`` of each line of a binary file, with a UTF-8 byte-order
    mark removed from the first."""
    pos = 0
    for number, line in enumerate(f, 1):
        start = pos
        pos += len(line)
        if number == 1 and line.startswith(_BOM):
            line, start = line[len(_BOM) :], start + len(_BOM)
        yield number, start, line


def decode_line(line: bytes | str, path, number: int, invalid: str = INVALID, errors: str = "strict"):
    """The JSON value of one line; ``invalid`` words the error (see the module docstring)."""
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8", errors)
        except UnicodeDecodeError as exc:
            raise FastpruneError(f"{path}: line {number} is not UTF-8 text ({exc.reason} at byte {exc.start})"
                                 ) from None
    try:
        return json.loads(line.rstrip("\r\n"))  # without the newline, so an error's column is on this line
    except json.JSONDecodeError as exc:
        raise FastpruneError(invalid.format(path=path, line=number, msg=exc.msg, col=exc.colno)) from None


def read_jsonl(path: str | os.PathLike, invalid: str = INVALID, errors: str = "strict"
               ) -> Iterator[tuple[int, object]]:
    """``(line number, value)`` of each non-blank line of a JSONL file (gzip-compressed when it ends in .gz)."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        for number, _, line in numbered_lines(f):
            if line.strip():
                yield number, decode_line(line, path, number, invalid, errors)


def complete_records(path: str | os.PathLike, invalid: str = INVALID) -> tuple[list[tuple[int, object]], int]:
    """The records of an append-only JSONL file whose writer may have been killed mid-line, and the byte
    length of its complete part.

    A torn write leaves a last line without its newline, or one that has the newline but not all its bytes
    (so it does not parse); either is left out of the records and of the length. A bad line anywhere else
    means the file was edited or corrupted: an error.
    """
    data = Path(path).read_bytes()
    complete = data.rfind(b"\n") + 1
    lines = list(numbered_lines(io.BytesIO(data[:complete])))
    records = []
    for number, offset, line in lines:
        if not line.strip():
            continue
        try:
            records.append((number, json.loads(line)))
        except json.JSONDecodeError as exc:
            if number == len(lines):
                return records, offset
            raise FastpruneError(invalid.format(path=path, line=number, msg=exc.msg, col=exc.colno)) from None
    return records, complete
