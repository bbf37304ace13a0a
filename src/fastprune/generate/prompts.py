"""Prompt sources for self-response generation: named datasets, local JSON/JSONL files, HF datasets.

Reading goes through ``fastprune.data.open_source`` (shorthands, files, ``hf:`` names, offline errors) and
the prompt field through ``fastprune.data.prompt_fields`` (detected from the usual names unless ``--field``
or ``--template`` says). This module says which field of each named dataset is the *prompt* (calibration
wants question + answer, generation wants the question alone) and keys every prompt by the source row's
own ``id``, or by a hash of the prompt when the row has none. The prompt text passes through exactly as
given: a trailing newline of a code prompt is part of what the model must continue.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from fastprune.data.prompt_fields import INSTRUCTION_INPUT, detect_prompt_field, prompt_value
from fastprune.errors import FastpruneError

# Named prompt sets -> how one record becomes a prompt.
PROMPT_SOURCES: dict[str, dict] = {
    "gsm8k-train": {"field": "question"},
    "gsm8k-test": {"field": "question"},
    "code-alpaca": {"field": INSTRUCTION_INPUT},  # the input, when not empty, after a blank line
}


@dataclass(frozen=True)
class Prompt:
    id: str | int  # the source row's own id (as given), or "sha256:..." of the prompt
    text: str | list[dict]  # a string as given, or chat messages

    @property
    def key(self) -> str:
        """The id as a string: what output rows are matched on."""
        return str(self.id)


def prompt_hash(text: str | list[dict]) -> str:
    """A stable digest of a prompt (its JSON form, so a chat and a string never collide)."""
    return hashlib.sha256(json.dumps(text, ensure_ascii=False, sort_keys=True).encode()).hexdigest()


def _check_text(text, where: str) -> None:
    contents = [text] if isinstance(text, str) else [m["content"] for m in text]
    if not any(c.strip() for c in contents):
        raise FastpruneError(f"{where}: the prompt is empty or only whitespace; fix the row or choose another "
                             "field with --field/--template")


def load_prompts(spec: str, field: str | None = None, template: str | None = None, split: str = "train",
                 limit: int | None = None) -> tuple[list[Prompt], dict]:
    """The first ``limit`` prompts of ``spec`` and a description of the source (for resume checks).

    The description's ``prompt_field`` says where the prompts came from (a field, ``instruction+input``,
    ``template``, or ``line`` for a text file).
    """
    from fastprune.data import open_source

    if limit is not None and limit < 1:
        raise FastpruneError(f"--limit must be >= 1, got {limit}")
    named = PROMPT_SOURCES.get(spec.lower())
    if named is not None and not (field or template):
        field, template = named.get("field"), named.get("template")
    source = open_source(spec, field=field, template=template, split=split, validate=False)
    used = field or ("template" if template else None)
    prompts: list[Prompt] = []
    seen: dict[str, str] = {}
    for index, (where, record) in enumerate(source.records(0)):
        if limit is not None and index >= limit:
            break
        if template or not isinstance(record, dict):
            text = source.format_record(record, index, where)
            used = used or "line"
        else:
            used = used or detect_prompt_field(record, where)
            text = prompt_value(record, used, where)
        _check_text(text, where)
        own = record.get("id") if isinstance(record, dict) else None
        if isinstance(own, (dict, list, float, bool)):
            raise FastpruneError(f"{where}: 'id' is {type(own).__name__}; ids must be strings or integers")
        prompt = Prompt(id=own if own is not None else f"sha256:{prompt_hash(text)[:16]}", text=text)
        if prompt.key in seen:
            what = "id" if own is not None else "prompt (it has no id; give the rows distinct ids)"
            raise FastpruneError(f"{where}: duplicate {what} {prompt.key!r}, first seen at {seen[prompt.key]}; "
                                 "every output row needs its own id")
        seen[prompt.key] = where
        prompts.append(prompt)
    if not prompts:
        raise FastpruneError(f"{spec}: no prompts found")
    return prompts, {"spec": spec, **source.describe(), "prompt_field": used}
