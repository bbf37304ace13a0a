"""``parens``: close an open prefix of a balanced bracket sequence over (), [], {} (Dyck-3).

Each item is a seeded random prefix that leaves exactly ``depth`` brackets open; the model must
generate the closing sequence. Brackets are space-separated (as in BIG-bench's dyck_languages) so
every tokenizer sees one token per bracket. Exact match is reported overall and per depth: unbalanced
brackets are the failure the paper traces in pruned models' code.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import ClassVar

from fastprune.errors import FastpruneError
from fastprune.evaluate.probes import generation_metrics, grouped_accuracy, grouped_item_metrics, mean
from fastprune.evaluate.task import ItemMetric, Task, TaskInfo, TaskResult, positive_ints
from fastprune.options import option

PAIRS = {"(": ")", "[": "]", "{": "}"}
CLOSERS = set(PAIRS.values())
DEFAULT_PER_DEPTH = 50
INSTRUCTION = "Complete the sequence so that every open bracket is closed, in the right order."


@dataclass
class ParensOptions:
    depths: tuple[int, ...] = option((2, 4, 6, 8), parse=positive_ints, help="open depths to probe")
    shots: int = option(3, help="worked examples before each item (depths 1, 2, 3; at most 3)")

    def __post_init__(self):
        if not self.depths or min(self.depths) < 1:
            raise FastpruneError(f"--parens-depths must be positive integers, got {self.depths}")
        if not 0 <= self.shots <= 3:
            raise FastpruneError(f"--parens-shots must be 0 to 3, got {self.shots}")


@dataclass(frozen=True)
class Problem:
    depth: int
    prefix: str  # space-separated brackets
    answer: str  # space-separated closing brackets


def closing_sequence(prefix: str) -> str:
    """The closers that balance ``prefix``; raises ValueError if the prefix itself is unbalanced."""
    stack = []
    for ch in prefix.split():
        if ch in PAIRS:
            stack.append(ch)
        elif ch in CLOSERS:
            if not stack or PAIRS[stack.pop()] != ch:
                raise ValueError(f"prefix {prefix!r} closes a bracket it never opened")
        else:
            raise ValueError(f"unexpected token {ch!r} in bracket prefix")
    return " ".join(PAIRS[o] for o in reversed(stack))


def make_problem(depth: int, rng: random.Random) -> Problem:
    """A random walk of opens/closes ending with exactly ``depth`` open; peaks may exceed ``depth``."""
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    length = depth + 2 * rng.randint(1, depth + 2)  # closed pairs before/among the open ones
    stack: list[str] = []
    out: list[str] = []
    for i in range(length):
        left_after = length - i - 1
        # a move is allowed only if exactly `depth` open brackets stay reachable in the steps left
        can_open = abs(depth - (len(stack) + 1)) <= left_after
        can_close = len(stack) > 0 and abs(depth - (len(stack) - 1)) <= left_after
        if can_close and (not can_open or rng.random() < 0.45):
            out.append(PAIRS[stack.pop()])
        else:
            stack.append(rng.choice("([{"))
            out.append(stack[-1])
    prefix = " ".join(out)
    return Problem(depth, prefix, closing_sequence(prefix))


def make_problems(per_depth: int, depths: tuple[int, ...], seed: int) -> list[Problem]:
    rng = random.Random(f"parens-{seed}")
    return [make_problem(d, rng) for _ in range(per_depth) for d in depths]


def build_prompt(problem: Problem, shots: list[Problem]) -> str:
    blocks = [INSTRUCTION] + [f"Input: {s.prefix}\nOutput: {s.answer}" for s in shots]
    return "\n\n".join([*blocks, f"Input: {problem.prefix}\nOutput:"])


def parse_closing(generation: str) -> str:
    """The brackets of the first line of the generation, space-separated (other characters ignored)."""
    line = generation.strip().split("\n", 1)[0] if generation.strip() else ""
    return " ".join(ch for ch in line if ch in PAIRS or ch in CLOSERS)


def chance_levels(problems: list[Problem]) -> dict[str, float]:
    """Exact match of a guesser that closes the right number of brackets with random types: 3^-depth."""
    out = {f"exact_match/{d}": 3.0**-d for d in dict.fromkeys(p.depth for p in problems)}
    out["exact_match"] = sum(3.0**-p.depth for p in problems) / len(problems) if problems else 0.0
    return out


class ParensTask(Task):
    name = "parens"
    # chance (3^-depth, a guesser closing the right number of brackets) depends on the depths: per run
    info = TaskInfo("generative", "exact_match", "close a Dyck-3 bracket prefix; exact match per depth")
    option_groups: ClassVar[dict[str, type]] = {"parens": ParensOptions}

    def __init__(self, options):
        super().__init__(options)
        self.depths = tuple(options.parens.depths)
        self.shots = options.parens.shots
        self.max_new_tokens = options.max_new_tokens or 3 * max(self.depths) + 4

    def run(self, lm, limit: int | None, seed: int) -> TaskResult:
        if limit is None:
            problems = make_problems(DEFAULT_PER_DEPTH, self.depths, seed)
        else:  # cycle through depths so a small limit still covers all of them
            problems = make_problems(-(-limit // len(self.depths)), self.depths, seed)[:limit]
        shot_rng = random.Random(f"parens-shots-{seed}")
        texts = [
            build_prompt(p, [make_problem(d, shot_rng) for d in (1, 2, 3)][: self.shots]) for p in problems
        ]
        prompts = [lm.prompt_ids(t) for t in texts]
        gens = lm.generate(prompts, self.max_new_tokens, seed=seed, stop_strings=("\n",))
        samples = []
        for i, (p, text, g) in enumerate(zip(problems, texts, gens, strict=True)):
            got = parse_closing(g.text)
            samples.append({
                "id": f"s{seed}-{i}", "depth": p.depth,
                "prompt": text, "generation": g.text, "extracted": got, "target": p.answer,
                "correct": got == p.answer, "finish_reason": g.finish_reason, "num_tokens": g.num_tokens,
            })
        metrics = {
            "exact_match": mean([s["correct"] for s in samples]),
            **grouped_accuracy(samples, "depth"),
            **generation_metrics(samples),
        }
        items = {"exact_match": ItemMetric("correct"), **grouped_item_metrics(samples, "depth")}
        return TaskResult(metrics, len(samples), samples, primary=self.info.primary, item_metrics=items,
                          chance=chance_levels(problems))
