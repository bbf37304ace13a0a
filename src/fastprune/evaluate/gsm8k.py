"""``gsm8k`` (zero-shot chat, answer in ``\\boxed{}``: the paper's protocol) and ``gsm8k_fewshot``.

The few-shot variant is the classic chain-of-thought completion format: worked train solutions with
their calculator annotations removed, ending "The answer is N.", and the model continues after
"Answer:". Both are scored by exact numeric match of the extracted final answer; an answer cut off by
the token budget counts as wrong.
"""

from __future__ import annotations

import re

from fastprune.evaluate.datafiles import hub_records, local_data_file, read_jsonl
from fastprune.evaluate.extract import extract_answer, normalize_number, numbers_equal
from fastprune.evaluate.probes import generation_metrics, mean
from fastprune.evaluate.task import EvalOptions, TaskResult, take

ZERO_SHOT_SUFFIX = "\nPlease reason step by step, and put your final answer within \\boxed{}."
FIELDS = ("question", "answer")
_CALC_RE = re.compile(r"<<[^>]*>>")


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


def load_split(options: EvalOptions, split: str) -> list[dict]:
    if split == "test" and options.gsm8k_file is not None:
        return read_jsonl(options.gsm8k_file, FIELDS)
    local = local_data_file(options.data_dir, f"gsm8k/{split}.jsonl")
    if local is not None:
        return read_jsonl(local, FIELDS)
    return hub_records("openai/gsm8k", "main", split, FIELDS, "--gsm8k-file")


class GSM8KTask:
    """Zero-shot (``shots == 0``, chat template) or few-shot (plain completion) GSM8K."""

    def __init__(self, options: EvalOptions, shots: int = 0):
        self.options = options
        self.shots = shots
        self.name = "gsm8k" if shots == 0 else "gsm8k_fewshot"
        self.max_new_tokens = options.max_new_tokens or 512

    def _prompts(self, lm, problems: list[dict]) -> tuple[list[str], list[list[int]]]:
        if self.shots == 0:
            texts = [p["question"] + ZERO_SHOT_SUFFIX for p in problems]
            return texts, [lm.prompt_ids(t, chat=True) for t in texts]
        train = load_split(self.options, "train")[: self.shots]
        header = "".join(
            f"Question: {t['question']}\nAnswer: {fewshot_solution(t['answer'])}\n\n" for t in train
        )
        texts = [f"{header}Question: {p['question']}\nAnswer:" for p in problems]
        return texts, [lm.prompt_ids(t) for t in texts]

    def run(self, lm, limit: int | None, seed: int) -> TaskResult:
        problems = take(load_split(self.options, "test"), limit)
        golds = [gold_answer(p["answer"]) for p in problems]
        texts, prompts = self._prompts(lm, problems)
        stops = () if self.shots == 0 else ("\n\nQuestion:", "Question:")
        gens = lm.generate(prompts, self.max_new_tokens, seed=seed, stop_strings=stops)
        samples = []
        for p, text, gold, g in zip(problems, texts, golds, gens, strict=True):
            got, rule = extract_answer(g.text)
            samples.append({
                "question": p["question"], "prompt": text, "generation": g.text, "extracted": got,
                # a model that never stops is bounded by the budget and counted wrong, whatever number it
                # happened to pass on the way
                "rule": rule, "target": gold,
                "correct": numbers_equal(got, gold) and g.finish_reason != "length",
                "finish_reason": g.finish_reason, "num_tokens": g.num_tokens,
                "prompt_truncated": g.prompt_truncated,
            })
        metrics = {
            "exact_match": mean([s["correct"] for s in samples]),
            "boxed_rate": mean([s["rule"] == "boxed" for s in samples]),
            "hit_length_limit": mean([s["finish_reason"] == "length" for s in samples]),
            **generation_metrics(samples),
        }
        return TaskResult(metrics, len(samples), samples, primary="exact_match")
