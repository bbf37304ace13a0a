"""``math500``: MATH-500 problems, zero-shot chat, the last ``\\boxed{}`` compared to the reference answer.

Answer equivalence follows the MATH benchmark's ``is_equiv``: both sides are normalised as strings
(``\\left``/``\\right``, ``\\dfrac``/``\\tfrac``, degree signs, dollar signs, trailing units in
``\\text{}``, spaces, ``\\frac12`` -> ``\\frac{1}{2}``, ``a/b`` -> ``\\frac{a}{b}``, a leading "x ="), then
compared as numbers when both are numbers and as strings otherwise. Data: ``--math500-file`` (JSONL
with ``problem``, ``answer``) or the hub's ``HuggingFaceH4/MATH-500`` test split.
"""

from __future__ import annotations

import re

from fastprune.evaluate.datafiles import hub_records, read_jsonl
from fastprune.evaluate.extract import last_boxed, normalize_number
from fastprune.evaluate.gsm8k import ZERO_SHOT_SUFFIX
from fastprune.evaluate.probes import generation_metrics, mean
from fastprune.evaluate.task import EvalOptions, TaskResult, take

FIELDS = ("problem", "answer")


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


class Math500Task:
    name = "math500"

    def __init__(self, options: EvalOptions):
        self.max_new_tokens = options.max_new_tokens or 1024
        if options.math500_file is not None:  # loaded now: a bad file fails before any model loads
            self.records = read_jsonl(options.math500_file, FIELDS)
        else:
            self.records = hub_records("HuggingFaceH4/MATH-500", None, "test", FIELDS, "--math500-file")

    def run(self, lm, limit: int | None, seed: int) -> TaskResult:
        records = take(self.records, limit)
        texts = [r["problem"] + ZERO_SHOT_SUFFIX for r in records]
        gens = lm.generate([lm.prompt_ids(t, chat=True) for t in texts], self.max_new_tokens, seed=seed)
        samples = []
        for r, t, g in zip(records, texts, gens, strict=True):
            got = last_boxed(g.text)
            samples.append({
                "prompt": t, "generation": g.text, "extracted": got, "target": r["answer"],
                "correct": answers_equivalent(got, str(r["answer"])) and g.finish_reason != "length",
                "subject": r.get("subject"), "level": r.get("level"), "finish_reason": g.finish_reason,
                "num_tokens": g.num_tokens,
            })
        metrics = {"exact_match": mean([s["correct"] for s in samples]), **generation_metrics(samples)}
        return TaskResult(metrics, len(samples), samples, primary="exact_match")
