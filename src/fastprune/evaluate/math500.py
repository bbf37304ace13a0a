"""``math500``: MATH-500 problems, zero-shot chat, the last ``\\boxed{}`` compared to the reference answer.

Answer equivalence follows the MATH benchmark's ``is_equiv``: both sides are normalised as strings
(``\\left``/``\\right``, ``\\dfrac``/``\\tfrac``, degree signs, dollar signs, trailing units in
``\\text{}``, spaces, ``\\frac12`` -> ``\\frac{1}{2}``, ``a/b`` -> ``\\frac{a}{b}``, a leading "x ="), then
compared as numbers when both are numbers and as strings otherwise. Data: ``--math500-file`` (JSONL
with ``problem``, ``answer``) or the hub's ``HuggingFaceH4/MATH-500`` test split.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from fastprune.evaluate.datafiles import file_or_hub_records
from fastprune.evaluate.extract import ZERO_SHOT_SUFFIX, last_boxed, normalize_number
from fastprune.evaluate.generative import GenerativeTask
from fastprune.evaluate.task import TaskInfo
from fastprune.options import option

FIELDS = ("problem", "answer")


@dataclass
class Math500Options:
    file: Path | None = option(None, help="MATH-500-format JSONL (problem, answer)")


def _fix_fracs(s: str) -> str:
    """``\\frac12`` -> ``\\frac{1}{2}``, ``\\frac1{b}`` -> ``\\frac{1}{b}`` (as MATH's normaliser does)."""
    parts = s.split("\\frac")
    out = parts[0]
    for part in parts[1:]:
        out += "\\frac"
        if part.startswith("{") or len(part) < 2:
            out += part
            continue
        a, b, rest = part[0], part[1], part[2:]
        out += f"{{{a}}}{{{b}}}{rest}" if b != "{" else f"{{{a}}}{b}{rest}"
    return out


def normalize_answer(s: str) -> str:
    s = s.strip().replace("\n", "").replace("\\!", "").replace("\\\\", "\\")
    s = s.replace("tfrac", "frac").replace("dfrac", "frac").replace("\\left", "").replace("\\right", "")
    s = s.replace("^{\\circ}", "").replace("^\\circ", "").replace("\\$", "").replace("$", "")
    s = re.sub(r"\\text\{\s*[a-zA-Z ]*\}$", "", s).strip()  # trailing units
    s = re.sub(r"\\(?:text|mbox|mathrm)\{([^{}]*)\}", r"\1", s)
    s = s.replace("\\%", "").replace("%", "").replace(" .", " 0.").replace("{.", "{0.")
    if s.startswith("."):
        s = "0" + s
    if re.fullmatch(r"[a-zA-Z]\s*=.*", s):  # "x = 5" -> "5"
        s = s.split("=", 1)[1]
    s = _fix_fracs(s.replace(" ", ""))
    m = re.fullmatch(r"(-?\d+)/(\d+)", s)
    if m:
        s = f"\\frac{{{m.group(1)}}}{{{m.group(2)}}}"
    return s.rstrip(".")


def answers_equivalent(prediction: str | None, reference: str) -> bool:
    if prediction is None:
        return False
    p, r = normalize_answer(prediction), normalize_answer(reference)
    if p == r:
        return True
    np_, nr = normalize_number(p), normalize_number(r)
    return np_ is not None and np_ == nr


class Math500Task(GenerativeTask):
    name = "math500"
    info = TaskInfo("generative", "exact_match", "MATH-500 (--math500-file or the hub), \\boxed{} answer equivalence")
    option_groups: ClassVar[dict[str, type]] = {"math500": Math500Options}
    default_max_new_tokens = 1024

    def __init__(self, options):
        super().__init__(options)
        # loaded now: a bad file fails before any model loads
        self.records = file_or_hub_records(options.math500.file, FIELDS, "HuggingFaceH4/MATH-500", None, "test",
                                           "--math500-file")

    def docs(self) -> list[dict]:
        return self.records

    def prompt(self, doc: dict) -> str:
        return doc["problem"] + ZERO_SHOT_SUFFIX

    def target(self, doc: dict):
        return doc["answer"]

    def extract(self, doc: dict, generation: str) -> str | None:
        return last_boxed(generation)

    def score(self, doc, target, extracted, generation) -> dict:
        # an answer cut off by the token budget counts as wrong
        return {"correct": answers_equivalent(extracted, str(target)) and generation.finish_reason != "length",
                "subject": doc.get("subject"), "level": doc.get("level")}
