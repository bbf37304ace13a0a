"""``xsum``: one-sentence summaries of BBC articles, scored by ROUGE-L F1.

ROUGE-L is computed here (longest common subsequence over lower-cased alphanumeric tokens, the
``rouge_score`` tokenisation without stemming) so no extra package is needed. Data: ``--xsum-file``
(JSONL with ``document``, ``summary``) or the hub's test split.
"""

from __future__ import annotations

import re

from fastprune.evaluate.datafiles import hub_records, read_jsonl
from fastprune.evaluate.probes import generation_metrics, mean
from fastprune.evaluate.task import EvalOptions, TaskResult, take

FIELDS = ("document", "summary")
_TOKEN_RE = re.compile(r"[a-z0-9]+")
MAX_DOCUMENT_CHARS = 6000  # long articles would crowd out the answer on small context windows


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


class XSumTask:
    name = "xsum"

    def __init__(self, options: EvalOptions):
        self.max_new_tokens = options.max_new_tokens or 64
        if options.xsum_file is not None:  # loaded now: a bad file fails before any model loads
            self.records = read_jsonl(options.xsum_file, FIELDS)
        else:
            self.records = hub_records("EdinburghNLP/xsum", None, "test", FIELDS, "--xsum-file")

    def run(self, lm, limit: int | None, seed: int) -> TaskResult:
        records = take(self.records, limit)
        texts = [build_prompt(r["document"]) for r in records]
        gens = lm.generate([lm.prompt_ids(t, chat=True) for t in texts], self.max_new_tokens, seed=seed,
                           stop_strings=("\n\n",))
        samples = []
        for r, t, g in zip(records, texts, gens, strict=True):
            score = rouge_l(g.text, r["summary"])
            samples.append({"prompt": t, "generation": g.text, "extracted": g.text.strip(),
                            "target": r["summary"], "rougeL": score, "correct": score,
                            "finish_reason": g.finish_reason, "num_tokens": g.num_tokens})
        metrics = {"rougeL": mean([s["rougeL"] for s in samples]), **generation_metrics(samples)}
        return TaskResult(metrics, len(samples), samples, primary="rougeL")
