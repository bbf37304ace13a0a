"""Text corpora as deterministic streams of documents: local files, JSON records, HF datasets.

A source yields documents (strings) in a fixed order for a given seed, and can start at any document
index, which is all a resumable pass needs to record. Local files are read lazily (a shuffled local file
keeps only byte offsets in memory); HF datasets are opened with ``streaming=True``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from fastprune.data.jsonl import decode_line, numbered_lines
from fastprune.data.paths import resolve_shorthand
from fastprune.data.prompt_fields import detect_prompt_field, prompt_value
from fastprune.errors import FastpruneError

_FILE_SUFFIXES = (".txt", ".json", ".jsonl", ".text", ".md")
_HF_FILE_BUILDERS = ("json", "text", "csv", "parquet")
_SHUFFLE_BUFFER = 10_000


class _Formatter:
    """Turns one record (a dict) into text, through ``--field`` or a ``--template`` like "{q}\\n{a}"."""

    def __init__(self, field: str | None, template: str | None, where: str):
        if field and template:
            raise FastpruneError("give either --field or --template, not both")
        self.field, self.template, self.where = field, template, where
        self.detected: str | None = None  # the field chosen from the first record when none was given

    def __call__(self, record, index: int, where: str | None = None) -> str:
        where = where or f"{self.where}: record {index}"
        if not isinstance(record, dict):
            if isinstance(record, str):
                if not (self.field or self.template):
                    return record
                raise FastpruneError(
                    f"{self.where} holds plain text; --field and --template apply only to "
                    "JSON/JSONL files and datasets"
                )
            raise FastpruneError(f"{where} is a {type(record).__name__}, not an object")
        keys = ", ".join(map(str, record)) or "(none)"
        if self.template:
            try:
                return self.template.format_map({k: "" if v is None else v for k, v in record.items()})
            except KeyError as exc:
                raise FastpruneError(
                    f"{where}: --template uses field {exc.args[0]!r}, which this record does not have; its "
                    f"fields are: {keys}"
                ) from None
            except (ValueError, IndexError) as exc:
                raise FastpruneError(
                    f"--template {self.template!r} is not a valid format string: {exc}"
                ) from None
        if self.field:
            name = self.field
        else:
            # A corpus's own 'text' first; otherwise the prompt field, detected from the first record.
            if self.detected is None:
                self.detected = "text" if "text" in record else detect_prompt_field(record, where)
            name = self.detected
        value = prompt_value(record, name, where)
        if not isinstance(value, str):  # a chat: its turns, one per line
            value = "\n".join(m["content"] for m in value)
        return value


@dataclass
class TextSource:
    """Documents from one place, in a deterministic order; ``documents(start)`` skips ``start`` of them."""

    kind: str  # text | jsonl | json | hf
    location: str
    field: str | None = None
    template: str | None = None
    text_mode: str = "lines"  # text files: one document per non-empty line, or the whole file as one
    shuffle: bool = False
    seed: int = 0
    hf_name: str | None = None
    hf_config: str | None = None
    split: str = "train"
    _format: _Formatter = dataclasses.field(init=False, repr=False)

    def __post_init__(self):
        self._format = _Formatter(self.field, self.template, self.location)

    def describe(self) -> dict:
        """What a results file records so a run can be reproduced (and a resume checked)."""
        return {
            "kind": self.kind,
            "location": self.location,
            "field": self.field,
            "template": self.template,
            "text_mode": self.text_mode if self.kind == "text" else None,
            "shuffle": self.shuffle,
            "seed": self.seed if self.shuffle else None,
            "split": self.split if self.kind == "hf" else None,
        }

    def documents(self, start: int = 0) -> Iterator[str]:
        for index, (where, record) in enumerate(self.records(start), start=start):
            yield self._format(record, index, where)

    def format_record(self, record, index: int, where: str) -> str:
        """One record as text, the way ``documents`` formats it (``--field``, ``--template`` or detected)."""
        return self._format(record, index, where)

    def records(self, start: int = 0) -> Iterator[tuple[str, object]]:
        """``(where, record)`` of every document from ``start`` on, unformatted: a dict (JSON, JSONL, datasets)
        or a string (text), with where it came from (``file:line``, ``file[index]``, ``name[index]``)."""
        if self.kind == "hf":
            yield from self._hf_records(start)
            return
        if self.kind == "json":
            records = self._json_records()
            order = self._order(len(records))
            for i in range(start, len(records)):
                j = int(order[i]) if order is not None else i
                yield f"{self.location}[{j}]", records[j]
            return
        if self.kind == "text" and self.text_mode == "whole":
            if start == 0:
                yield self.location, Path(self.location).read_text(encoding="utf-8-sig", errors="replace")
            return
        yield from self._line_records(start)

    def validate(self) -> None:
        """Fail now, not after a model has loaded, on an unreadable or empty source or a wrong field."""
        first = next(iter(self.documents(0)), None)
        if first is None:
            raise FastpruneError(f"data source {self.location} is empty (no documents)")

    # -- local files -----------------------------------------------------------------------------------
    def _parse_line(self, line: bytes, lineno: int):
        text = line.decode("utf-8", errors="replace").rstrip("\r\n")
        if self.kind == "text":
            return text
        return decode_line(text, self.location, lineno)

    def _line_records(self, start: int) -> Iterator[tuple[str, object]]:
        # Documents are non-blank lines; their index counts only those, so it is stable across resumes.
        if not self.shuffle:
            with open(self.location, "rb") as f:
                index = 0
                for lineno, _, line in numbered_lines(f):
                    if not line.strip():
                        continue
                    if index >= start:
                        yield f"{self.location}:{lineno}", self._parse_line(line, lineno)
                    index += 1
            return
        with open(self.location, "rb") as f:
            lines = [(lineno, offset) for lineno, offset, line in numbered_lines(f) if line.strip()]
        order = self._order(len(lines))
        with open(self.location, "rb") as f:
            for i in range(start, len(lines)):
                lineno, offset = lines[order[i]]
                f.seek(offset)
                yield f"{self.location}:{lineno}", self._parse_line(f.readline(), lineno)

    def _json_records(self) -> list:
        try:
            data = json.loads(Path(self.location).read_text(encoding="utf-8-sig"))
        except json.JSONDecodeError as exc:
            raise FastpruneError(
                f"{self.location} is not valid JSON ({exc.msg}, line {exc.lineno}); "
                "for one object per line name the file .jsonl"
            ) from None
        if isinstance(data, dict):
            lists = [v for v in data.values() if isinstance(v, list)]
            if len(lists) != 1:
                raise FastpruneError(
                    f"{self.location}: expected a list of records (or an object holding exactly one list)"
                )
            data = lists[0]
        if not isinstance(data, list):
            raise FastpruneError(f"{self.location}: expected a list of records, found {type(data).__name__}")
        return data

    def _order(self, n: int):
        if not self.shuffle:
            return None
        import numpy as np

        return np.random.default_rng(self.seed).permutation(n)

    # -- HF datasets -----------------------------------------------------------------------------------
    def _hf_records(self, start: int) -> Iterator[tuple[str, object]]:
        ds = self._open_hf()
        if self.shuffle:
            ds = ds.shuffle(seed=self.seed, buffer_size=_SHUFFLE_BUFFER)
        if start:
            ds = ds.skip(start)
        for i, record in enumerate(ds, start=start):
            yield f"{self.location}[{i}]", record

    def _open_hf(self):
        import datasets

        kwargs = {"split": self.split, "streaming": True}
        if self.hf_name in _HF_FILE_BUILDERS:
            kwargs["data_files"] = self.hf_config
            args = (self.hf_name,)
        else:
            args = (self.hf_name,) if self.hf_config is None else (self.hf_name, self.hf_config)
        try:
            return datasets.load_dataset(*args, **kwargs)
        except Exception as exc:  # datasets raises many types (offline, missing split, bad config)
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            offline = os.environ.get("HF_DATASETS_OFFLINE") == "1" or os.environ.get("HF_HUB_OFFLINE") == "1"
            hint = (" (offline mode is on)" if offline else "") + (
                "; without a network use a local file, a shorthand like wikitext2, or hf:json:PATH"
            )
            raise FastpruneError(
                f"cannot open dataset {self.location!r} split {self.split!r}: {first}{hint}"
            ) from exc


def open_source(
    spec: str,
    field: str | None = None,
    template: str | None = None,
    split: str = "train",
    text_mode: str = "lines",
    shuffle: bool = False,
    seed: int = 0,
    validate: bool = True,
) -> TextSource:
    """A ``TextSource`` for ``spec``: a shorthand (``wikitext2``, ``gsm8k-train``, ...), a local
    .txt/.json/.jsonl path, ``hf:NAME[:CONFIG]`` (a datasets name), ``hf:json:PATH`` (a local file through
    ``datasets``), or a bare hub dataset name."""
    if text_mode not in ("lines", "whole"):
        raise FastpruneError(f"text mode must be 'lines' or 'whole', not {text_mode!r}")
    common = dict(field=field, shuffle=shuffle, seed=seed, split=split)
    spec = spec.strip()
    if not spec:
        raise FastpruneError("empty data source; give a file path, a shorthand like wikitext2, or hf:NAME")
    short = resolve_shorthand(spec)
    if short is not None:
        path, default_template = short
        kind = _local_kind(path)
        source = TextSource(
            kind,
            str(path),
            template=template or (None if field else default_template),
            text_mode=text_mode,
            **common,
        )
    elif spec.startswith("hf:"):
        name, _, config = spec[3:].partition(":")
        if not name:
            raise FastpruneError(f"data source {spec!r}: give a dataset name after hf:")
        if name in _HF_FILE_BUILDERS and not config:
            raise FastpruneError(f"data source {spec!r}: hf:{name} needs a file, e.g. hf:{name}:data.{name}")
        source = TextSource("hf", spec, template=template, hf_name=name, hf_config=config or None, **common)
    elif os.path.exists(spec):
        if os.path.isdir(spec):
            raise FastpruneError(f"data source {spec} is a directory; give a .txt, .json or .jsonl file")
        source = TextSource(_local_kind(Path(spec)), spec, template=template, text_mode=text_mode, **common)
    elif spec.lower().endswith(_FILE_SUFFIXES) or spec.startswith((".", "/", "~")):
        raise FastpruneError(f"data file not found: {spec}")
    else:
        source = TextSource("hf", spec, template=template, hf_name=spec, **common)
    if validate:
        source.validate()
    return source


def _local_kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".jsonl"):
        return "jsonl"
    if name.endswith(".json"):
        return "json"
    return "text"
