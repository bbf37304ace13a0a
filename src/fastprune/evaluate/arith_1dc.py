"""``arith_1dc``: the paper's arithmetic protocol on GPT-3's "1dc" problems, scored from the logits.

Three single-digit operands and two operations from + - *, the first pair in parentheses
("What is (4 * 4) * 1?"). A fixed 3-shot prompt in the paper's format, then the test question and
``Answer:`` followed by a space, or by `` -`` when the answer is negative, so the next token is the
first digit of the answer's absolute value. The score is whether the argmax over the ten digit tokens
at that position is that digit: no generation, no formatting, chance is exactly 1 in 10.

Unlike ``arith`` (generated answers, exact match, several kinds), this reads one position per item, so
a model at floor on exact match can still be measured, and a few hundred items cost a few hundred
forwards.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from fastprune.evaluate.probes import first_token_choice, grouped_accuracy, grouped_item_metrics, mean
from fastprune.evaluate.task import ItemMetric, Task, TaskInfo, TaskResult

DEFAULT_SIZE = 200
TOTAL = 10 * 3 * 10 * 3 * 10  # operands x operations
DIGITS = tuple("0123456789")
_OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}


@dataclass(frozen=True)
class Problem:
    a: int
    op1: str
    b: int
    op2: str
    c: int

    @property
    def question(self) -> str:
        return f"What is ({self.a} {self.op1} {self.b}) {self.op2} {self.c}?"

    @property
    def answer(self) -> int:
        return _OPS[self.op2](_OPS[self.op1](self.a, self.b), self.c)


# The first shot is the paper's; the other two are ours, one of them negative so the prompt shows the
# " -" form the test items with negative answers use.
SHOTS = (Problem(4, "*", 4, "*", 1), Problem(3, "+", 8, "-", 2), Problem(2, "-", 9, "*", 1))


def make_problems(n: int, seed: int) -> list[Problem]:
    """``n`` distinct problems (none of them a shot), reproducible from ``seed``."""
    rng = random.Random(f"arith_1dc-{seed}")
    seen, out = set(SHOTS), []
    if n > TOTAL - len(SHOTS):
        raise ValueError(f"arith_1dc has only {TOTAL - len(SHOTS)} distinct problems; asked for {n}")
    while len(out) < n:
        p = Problem(rng.randint(0, 9), rng.choice("+-*"), rng.randint(0, 9), rng.choice("+-*"), rng.randint(0, 9))
        if p not in seen:
            seen.add(p)
            out.append(p)
    return out


def shot_line(p: Problem) -> str:
    return f"Question: {p.question} Answer: {p.answer}"


def build_prompt(problem: Problem) -> str:
    """The 3-shot prompt, ending where the answer's first digit is the next token."""
    tail = " -" if problem.answer < 0 else " "
    return "\n".join([*map(shot_line, SHOTS), f"Question: {problem.question} Answer:{tail}"])


def first_digit(answer: int) -> str:
    return str(abs(answer))[0]


class Arith1dcTask(Task):
    name = "arith_1dc"
    info = TaskInfo("next-token-probe", "first_digit_acc", "the paper's 1dc protocol: 3-shot, argmax over the ten "
                    "digits, chance 10%", chance=1 / len(DIGITS))

    def run(self, lm, limit: int | None, seed: int) -> TaskResult:
        problems = make_problems(DEFAULT_SIZE if limit is None else limit, seed)
        texts = [build_prompt(p) for p in problems]
        prompts = [lm.prompt_ids(t) for t in texts]
        preds = first_token_choice(lm, prompts, DIGITS)
        samples = []
        for i, (p, text, pred) in enumerate(zip(problems, texts, preds, strict=True)):
            samples.append({
                "id": f"s{seed}-{i}", "prompt": text, "question": p.question, "target": p.answer,
                "sign": "negative" if p.answer < 0 else "positive", "first_digit_pred": pred,
                "first_digit_target": first_digit(p.answer), "correct": pred == first_digit(p.answer),
            })
        metrics = {"first_digit_acc": mean([s["correct"] for s in samples]),
                   **grouped_accuracy(samples, "sign", name="first_digit_acc")}
        items = {"first_digit_acc": ItemMetric("correct"),
                 **grouped_item_metrics(samples, "sign", name="first_digit_acc")}
        chance = {name: self.info.chance for name in metrics}
        return TaskResult(metrics, len(samples), samples, primary=self.info.primary, item_metrics=items,
                          chance=chance)
