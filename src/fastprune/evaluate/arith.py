"""``arith``: seeded arithmetic probes, few-shot, scored by exact match and first-digit accuracy.

Kinds: GPT-3's "1dc" (three single-digit operands, two operations, parentheses around the last two:
"What is 6+(4*8)?") and 1-3 digit addition, subtraction and multiplication. Exact match reads the
generated answer; first-digit accuracy reads the logits at the answer position, which separates "can
no longer carry the computation" from "cannot format an answer" after pruning.
"""

from __future__ import annotations

import argparse
import random
import re
from dataclasses import dataclass
from typing import ClassVar

from fastprune.errors import FastpruneError
from fastprune.evaluate.probes import (
    first_token_choice,
    generation_metrics,
    grouped_accuracy,
    grouped_item_metrics,
    mean,
)
from fastprune.evaluate.task import ItemMetric, Task, TaskInfo, TaskResult
from fastprune.options import option

KINDS = ("1dc", "add1", "add2", "add3", "sub1", "sub2", "sub3", "mul1", "mul2", "mul3")
DEFAULT_SIZE = 300
_WORDS = {"add": ("plus", lambda a, b: a + b), "sub": ("minus", lambda a, b: a - b),
          "mul": ("times", lambda a, b: a * b)}
_OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}
_INT_RE = re.compile(r"-?\d[\d,]*")
FIRST_CHARS = tuple("0123456789-")


def _names(text: str) -> tuple[str, ...]:
    values = tuple(x.strip() for x in text.split(",") if x.strip())
    if not values:
        raise argparse.ArgumentTypeError(f"expected comma-separated names, got {text!r}")
    return values


@dataclass
class ArithOptions:
    kinds: tuple[str, ...] | None = option(None, parse=_names,
                                           help="arith kinds to cycle through, e.g. add1,sub1,1dc (default: all ten)")
    shots: int = option(4, help="worked examples before each question")

    def __post_init__(self):
        unknown = [k for k in self.kinds or () if k not in KINDS]
        if unknown or self.kinds == ():
            raise FastpruneError(f"--arith-kinds: unknown kind(s) {', '.join(unknown)}; known: {', '.join(KINDS)}")
        if self.shots < 0:
            raise FastpruneError(f"--arith-shots must be >= 0, got {self.shots}")


@dataclass(frozen=True)
class Problem:
    kind: str
    question: str
    answer: int


def make_problem(kind: str, rng: random.Random) -> Problem:
    if kind == "1dc":
        a, b, c = (rng.randint(0, 9) for _ in range(3))
        op1, op2 = rng.choice("+-*"), rng.choice("+-*")
        return Problem(kind, f"What is {a}{op1}({b}{op2}{c})?", _OPS[op1](a, _OPS[op2](b, c)))
    op, digits = kind[:3], int(kind[3:])
    if op not in _WORDS or not 1 <= digits <= 3:
        raise ValueError(f"unknown arith kind {kind!r}; known: {', '.join(KINDS)}")
    low = 0 if digits == 1 else 10 ** (digits - 1)
    a, b = rng.randint(low, 10**digits - 1), rng.randint(low, 10**digits - 1)
    word, fn = _WORDS[op]
    return Problem(kind, f"What is {a} {word} {b}?", fn(a, b))


def make_problems(n: int, seed: int, kinds: tuple[str, ...] = KINDS) -> list[Problem]:
    """``n`` problems cycling through ``kinds``, reproducible from ``seed``."""
    rng = random.Random(f"arith-{seed}")
    return [make_problem(kinds[i % len(kinds)], rng) for i in range(n)]


def build_prompt(problem: Problem, shots: list[Problem]) -> str:
    lines = [f"Q: {s.question} A: {s.answer}" for s in shots]
    return "\n".join([*lines, f"Q: {problem.question} A:"])


def parse_answer(generation: str) -> int | None:
    """The first integer of the generation (commas allowed), or None."""
    m = _INT_RE.search(generation)
    if not m:
        return None
    try:
        return int(m.group(0).replace(",", ""))
    except ValueError:  # a lone "-" followed by a comma
        return None


class ArithTask(Task):
    name = "arith"
    # exact match of an open integer answer: a guess is essentially never right
    info = TaskInfo("generative", "exact_match", "seeded few-shot arithmetic (1dc, 1-3 digit add/sub/mul): exact "
                    "match, first digit", chance=0.0)
    option_groups: ClassVar[dict[str, type]] = {"arith": ArithOptions}

    def __init__(self, options):
        super().__init__(options)
        self.shots = options.arith.shots
        self.max_new_tokens = options.max_new_tokens or 8
        self.kinds = tuple(options.arith.kinds or KINDS)

    def run(self, lm, limit: int | None, seed: int) -> TaskResult:
        problems = make_problems(DEFAULT_SIZE if limit is None else limit, seed, self.kinds)
        shot_rng = random.Random(f"arith-shots-{seed}")
        texts = []
        for p in problems:
            shots = []
            seen = {p.question}
            while len(shots) < self.shots:  # distinct examples (1-digit kinds have few questions)
                s = make_problem(p.kind, shot_rng)
                if s.question not in seen:
                    seen.add(s.question)
                    shots.append(s)
            texts.append(build_prompt(p, shots))
        prompts = [lm.prompt_ids(t) for t in texts]
        gens = lm.generate(prompts, self.max_new_tokens, seed=seed, stop_strings=("\n", "Q:"))
        # the answer follows "A:" after a space, as in the shots; the probe must read the same position
        first = [c.strip() for c in first_token_choice(lm, prompts, [" " + c for c in FIRST_CHARS])]
        samples = []
        for i, (p, text, g, f) in enumerate(zip(problems, texts, gens, first, strict=True)):
            got = parse_answer(g.text)
            samples.append({
                "id": f"s{seed}-{i}", "kind": p.kind,
                "prompt": text, "generation": g.text, "extracted": got, "target": p.answer,
                "correct": got == p.answer, "first_digit_pred": f,
                "first_digit_correct": f == str(p.answer)[0],
                "finish_reason": g.finish_reason, "num_tokens": g.num_tokens,
            })
        metrics = {
            "exact_match": mean([s["correct"] for s in samples]),
            "first_digit_acc": mean([s["first_digit_correct"] for s in samples]),
            **grouped_accuracy(samples, "kind"),
            **generation_metrics(samples),
        }
        items = {"exact_match": ItemMetric("correct"), "first_digit_acc": ItemMetric("first_digit_correct"),
                 **grouped_item_metrics(samples, "kind")}
        chance = {"exact_match": self.info.chance, "first_digit_acc": 1 / len(FIRST_CHARS)}
        return TaskResult(metrics, len(samples), samples, primary=self.info.primary, item_metrics=items,
                          chance=chance)
