"""Reading evaluation data: local JSONL files with required fields, or the hub when reachable.

A data file with a missing field fails before any model runs, naming the file, the line and the fields
it does have, so a wrong file never costs an hour of generation.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fastprune.data.jsonl import read_jsonl as jsonl_records
from fastprune.errors import FastpruneError


def read_jsonl(path: str | Path, required: Sequence[str] = ()) -> list[dict]:
    """Records of a JSONL (or .jsonl.gz) file, each checked to hold every ``required`` field."""
    path = Path(path)
    if not path.is_file():
        raise FastpruneError(f"data file {path} does not exist")
    records = []
    for lineno, record in jsonl_records(path, "{path}:{line} is not valid JSON ({msg}); expected one object per line"):
        check_fields(record, required, f"{path}:{lineno}")
        records.append(record)
    if not records:
        raise FastpruneError(f"data file {path} holds no records")
    return records


def check_fields(record, required: Sequence[str], where: str) -> None:
    if not isinstance(record, dict):
        raise FastpruneError(f"{where}: expected a JSON object, got {type(record).__name__}")
    missing = [k for k in required if k not in record]
    if missing:
        have = ", ".join(record) or "(none)"
        raise FastpruneError(f"{where}: missing field(s) {', '.join(missing)} (it has: {have}); "
                             f"this task needs {', '.join(required)}")


def local_data_file(data_dir: Path | None, relpath: str) -> Path | None:
    """``relpath`` inside ``data_dir`` (or the shared data folder); None when it is not there."""
    if data_dir is None:
        from fastprune.data.paths import shared_data_dir

        data_dir = shared_data_dir(required=False)
        if data_dir is None:
            return None
    path = Path(data_dir) / relpath
    return path if path.is_file() else None


def file_or_hub_records(path: str | Path | None, required: Sequence[str], name: str, config: str | None,
                        split: str, flag: str) -> list[dict]:
    """The records of ``path`` when given, else of the hub dataset (``flag``: the option naming the file)."""
    if path is not None:
        return read_jsonl(path, required)
    return hub_records(name, config, split, required, flag)


def hub_records(
    name: str, config: str | None, split: str, required: Sequence[str], flag: str = "a local file"
) -> list[dict]:
    """Rows of a hub dataset split (needs a network or the datasets cache); ``flag``: the offline way."""
    try:
        import datasets

        rows = [dict(r) for r in datasets.load_dataset(name, config, split=split)]
    except Exception as exc:  # datasets raises many types for "offline", "not found", "gated"
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise FastpruneError(f"cannot load {name} ({config or 'default'}/{split}) from the hub: {first}; "
                             f"give {flag} in the same format instead") from None
    for i, r in enumerate(rows):
        check_fields(r, required, f"{name}[{i}]")
    return rows
