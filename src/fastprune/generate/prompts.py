"""Prompt sources for self-response generation: named datasets, local JSON/JSONL files, HF datasets.

Reading goes through ``fastprune.data.open_source`` (shorthands, files, ``hf:`` names, offline errors); this
module only says which field of each named dataset is the *prompt* (calibration wants question + answer,
generation wants the question alone) and gives every prompt a stable id: its index in the source order.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastprune.errors import FastpruneError

# Named prompt sets -> how one record becomes a prompt.
PROMPT_SOURCES: dict[str, dict] = {
    "gsm8k-train": {"field": "question"},
    "gsm8k-test": {"field": "question"},
    "code-alpaca": {"template": "{instruction}\n\n{input}"},  # input is often empty: stripped below
}


@dataclass(frozen=True)
class Prompt:
    id: str
    text: str


def load_prompts(spec: str, field: str | None = None, template: str | None = None, split: str = "train",
                 limit: int | None = None) -> tuple[list[Prompt], dict]:
    """The first ``limit`` prompts of ``spec`` and a description of the source (for resume checks)."""
    from fastprune.data import open_source

    if limit is not None and limit < 1:
        raise FastpruneError(f"--limit must be >= 1, got {limit}")
    named = PROMPT_SOURCES.get(spec.lower())
    if named is not None and not (field or template):
        field, template = named.get("field"), named.get("template")
    source = open_source(spec, field=field, template=template, split=split)
    prompts = []
    for index, text in enumerate(source.documents(0)):
        if limit is not None and index >= limit:
            break
        text = text.strip()
        if not text:
            raise FastpruneError(f"{spec}: prompt {index} is empty; check --field/--template")
        prompts.append(Prompt(id=str(index), text=text))
    if not prompts:
        raise FastpruneError(f"{spec}: no prompts found")
    return prompts, {"spec": spec, **source.describe()}
