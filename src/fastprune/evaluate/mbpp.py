"""``mbpp``: MBPP problems (original or sanitized format), the first test shown in the prompt, sandboxed.

The model answers in chat; the code is taken from the first fenced block of the answer (or the whole
answer when there is none) and run with ``test_setup_code`` and every test of ``test_list`` in the
sandbox, with the same failure categories as HumanEval. Data: ``--mbpp-file`` (JSONL with ``text`` or
``prompt``, ``test_list``) or the hub's sanitized test split.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from fastprune.errors import FastpruneError
from fastprune.evaluate.code_exec import CodeExecTask, code_info
from fastprune.evaluate.datafiles import file_or_hub_records
from fastprune.options import option

_FENCE_RE = re.compile(r"```(?:python|py|Python)?[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL)


@dataclass
class MBPPOptions:
    file: Path | None = option(None, help="MBPP-format JSONL (text or prompt, test_list)")


def description(record: dict) -> str:
    return record.get("text") or record.get("prompt") or ""


def build_prompt(record: dict) -> str:
    return (f"You are an expert Python programmer, and here is your task: {description(record)} "
            f"Your code should pass this test:\n\n{record['test_list'][0]}\n\n"
            "Write the complete function in a ```python code block.")


def extract_code(answer: str) -> str:
    """The first fenced code block (an unclosed fence runs to the end), else the whole answer."""
    m = _FENCE_RE.search(answer)
    return m.group(1) if m else answer


def program(record: dict, code: str) -> str:
    setup = record.get("test_setup_code") or ""
    return f"{setup}\n{code}\n\n" + "\n".join(record["test_list"]) + "\n"


def load_records(options: MBPPOptions) -> list[dict]:
    records = file_or_hub_records(options.file, ("test_list",), "google-research-datasets/mbpp", "sanitized",
                                  "test", "--mbpp-file")
    for i, r in enumerate(records):
        if not description(r) or not isinstance(r["test_list"], list) or not r["test_list"]:
            raise FastpruneError(f"MBPP record {i + 1}: needs a 'text' (or 'prompt') description and a "
                                 "non-empty 'test_list' of assert statements")
    return records


class MBPPTask(CodeExecTask):
    name = "mbpp"
    info = code_info("MBPP (--mbpp-file or the hub), first test in the prompt, sandboxed")
    option_groups: ClassVar[dict[str, type]] = {"mbpp": MBPPOptions, **CodeExecTask.option_groups}

    def __init__(self, options):
        super().__init__(options)
        self.records = load_records(options.mbpp)  # a bad file fails before any model loads

    def docs(self) -> list[dict]:
        return self.records

    def prompt(self, doc: dict) -> str:
        return build_prompt(doc)

    def extract(self, doc: dict, generation: str) -> str:
        return extract_code(generation)

    def program(self, doc: dict, code: str) -> str:
        return program(doc, code)

    def doc_fields(self, doc: dict) -> dict:
        return {"task_id": doc.get("task_id")}
