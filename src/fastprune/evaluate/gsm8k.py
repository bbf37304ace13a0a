"""``gsm8k`` (zero-shot chat, answer in ``\\boxed{}``: the paper's protocol) and ``gsm8k_fewshot``.

The few-shot variant is the classic chain-of-thought completion format: worked train solutions with
their calculator annotations removed, ending "The answer is N.", and the model continues after
"Answer:". Both are scored by exact numeric match of the extracted final answer; an answer cut off by
the token budget counts as wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from fastprune.errors import FastpruneError
from fastprune.evaluate.datafiles import hub_records, local_data_file, read_jsonl
from fastprune.evaluate.extract import ZERO_SHOT_SUFFIX, extract_answer, normalize_number, numbers_equal
from fastprune.evaluate.generative import GenerativeTask
from fastprune.evaluate.probes import mean
from fastprune.evaluate.task import TaskInfo
from fastprune.options import option

__all__ = ["ZERO_SHOT_SUFFIX", "GSM8KFewshotTask", "GSM8KOptions", "GSM8KTask"]
FIELDS = ("question", "answer")
_CALC_RE = re.compile(r"<<[^>]*>>")


@dataclass
class GSM8KOptions:
    file: Path | None = option(None, help="GSM8K-format JSONL (question, answer with '#### N')")
    shots: int = option(8, help="examples in gsm8k_fewshot")


def gold_answer(answer_field: str) -> str:
    """The number after ``####`` in a GSM8K answer field."""
    if "####" not in answer_field:
        raise ValueError(f"GSM8K answer has no '#### N' line: {answer_field[-80:]!r}")
    value = normalize_number(answer_field.split("####")[-1])
    if value is None:
        raise ValueError(f"GSM8K final answer is not a number: {answer_field.split('####')[-1]!r}")
    return value


def fewshot_solution(answer_field: str) -> str:
    """A train solution as a worked example: no <<calc>> annotations, "The answer is N." at the end."""
    body, final = answer_field.split("####")
    return f"{_CALC_RE.sub('', body).strip()}\nThe answer is {final.strip()}."


def load_split(options: GSM8KOptions, split: str, data_dir: Path | None = None) -> list[dict]:
    if split == "test" and options.file is not None:
        return read_jsonl(options.file, FIELDS)
    local = local_data_file(data_dir, f"gsm8k/{split}.jsonl")
    if local is not None:
        return read_jsonl(local, FIELDS)
    return hub_records("openai/gsm8k", "main", split, FIELDS, "--gsm8k-file")


class GSM8KTask(GenerativeTask):
    """Zero-shot (``shots == 0``, chat template) or few-shot (plain completion) GSM8K.

    Scored by exact numeric match of the extracted final answer; an answer cut off by the token budget
    counts as wrong.
    """

    name = "gsm8k"
    info = TaskInfo("generative", "exact_match", "GSM8K test, zero-shot chat, answer in \\boxed{}")
    option_groups: ClassVar[dict[str, type]] = {"gsm8k": GSM8KOptions}

    def __init__(self, options, shots: int = 0):
        super().__init__(options)
        self.shots = shots
        self.name = "gsm8k" if shots == 0 else "gsm8k_fewshot"
        self.chat = shots == 0
        self.stop_strings = () if shots == 0 else ("\n\nQuestion:", "Question:")
        self._header: str | None = None

    def docs(self) -> list[dict]:
        return load_split(self.options.gsm8k, "test", self.options.data_dir)

    def target(self, doc: dict) -> str:
        return gold_answer(doc["answer"])

    def prompt(self, doc: dict) -> str:
        if self.shots == 0:
            return doc["question"] + ZERO_SHOT_SUFFIX
        if self._header is None:
            train = load_split(self.options.gsm8k, "train", self.options.data_dir)[: self.shots]
            self._header = "".join(
                f"Question: {t['question']}\nAnswer: {fewshot_solution(t['answer'])}\n\n" for t in train)
        return f"{self._header}Question: {doc['question']}\nAnswer:"

    def extract(self, doc: dict, generation: str) -> tuple[str | None, str]:
        return extract_answer(generation)  # (answer, the rule that found it)

    def score(self, doc, target, extracted, generation) -> dict:
        got, rule = extracted
        # a model that never stops is bounded by the budget and counted wrong, whatever number it happened
        # to pass on the way
        return {"rule": rule, "correct": numbers_equal(got, target) and generation.finish_reason != "length"}

    def doc_fields(self, doc: dict) -> dict:
        return {"question": doc["question"]}

    def record(self, doc, text, generation, target, extracted, scored) -> dict:
        record = super().record(doc, text, generation, target, extracted[0], scored)
        return {**record, "prompt_truncated": generation.prompt_truncated}

    def extra_metrics(self, samples: list[dict]) -> dict[str, float]:
        return {"boxed_rate": mean([s["rule"] == "boxed" for s in samples]),
                "hit_length_limit": mean([s["finish_reason"] == "length" for s in samples])}


class GSM8KFewshotTask(GSM8KTask):
    name = "gsm8k_fewshot"
    info = TaskInfo("generative", "exact_match", "GSM8K test, few-shot chain-of-thought completion")

    def __init__(self, options):
        if options.gsm8k.shots < 1:
            raise FastpruneError(f"--gsm8k-shots must be >= 1 for gsm8k_fewshot, got {options.gsm8k.shots}")
        super().__init__(options, shots=options.gsm8k.shots)
