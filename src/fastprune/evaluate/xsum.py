"""``xsum``: one-sentence summaries of BBC articles, scored by ROUGE-L F1.

ROUGE-L is computed here (longest common subsequence over lower-cased alphanumeric tokens, the
``rouge_score`` tokenisation without stemming) so no extra package is needed. Data: ``--xsum-file``
(JSONL with ``document``, ``summary``) or the hub's test split.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from fastprune.evaluate.datafiles import file_or_hub_records
from fastprune.evaluate.generative import GenerativeTask
from fastprune.evaluate.task import TaskInfo
from fastprune.options import option

FIELDS = ("document", "summary")
_TOKEN_RE = re.compile(r"[a-z0-9]+")
MAX_DOCUMENT_CHARS = 6000  # long articles would crowd out the answer on small context windows


@dataclass
class XSumOptions:
    file: Path | None = option(None, help="XSum-format JSONL (document, summary)")


def tokens(text: str) -> list[str]:
    return _TOKEN_RE.findall(text.lower())


def lcs_length(a: list[str], b: list[str]) -> int:
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F1 of two texts (0 when either has no tokens)."""
    p, r = tokens(prediction), tokens(reference)
    if not p or not r:
        return 0.0
    lcs = lcs_length(p, r)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(p), lcs / len(r)
    return 2 * precision * recall / (precision + recall)


def build_prompt(document: str) -> str:
    return ("Summarize the following article in one sentence.\n\n"
            f"{document[:MAX_DOCUMENT_CHARS]}")


class XSumTask(GenerativeTask):
    name = "xsum"
    info = TaskInfo("generative", "rougeL", "XSum (--xsum-file or the hub), one-sentence summary, ROUGE-L F1")
    option_groups: ClassVar[dict[str, type]] = {"xsum": XSumOptions}
    default_max_new_tokens = 64
    stop_strings = ("\n\n",)

    def __init__(self, options):
        super().__init__(options)
        # loaded now: a bad file fails before any model loads
        self.records = file_or_hub_records(options.xsum.file, FIELDS, "EdinburghNLP/xsum", None, "test", "--xsum-file")

    def docs(self) -> list[dict]:
        return self.records

    def prompt(self, doc: dict) -> str:
        return build_prompt(doc["document"])

    def target(self, doc: dict) -> str:
        return doc["summary"]

    def score(self, doc, target, extracted, generation) -> dict:
        score = rouge_l(generation.text, target)
        return {"rougeL": score, "correct": score}
