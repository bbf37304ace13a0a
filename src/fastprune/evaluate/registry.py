"""Task names -> task objects. ``--tasks`` is a comma list of these names.

Parameterised names carry a value after a colon: ``mc:PATH`` (any multiple-choice JSONL) and
``lm_eval:NAME`` (an lm-evaluation-harness task, local YAML folders from ``lm_eval_include``). Every task
is built (and its data checked) before the first model loads, so a typo or a bad file fails in seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from fastprune.errors import FastpruneError
from fastprune.evaluate.task import EvalOptions, Task


def _arith(o: EvalOptions) -> Task:
    from fastprune.evaluate.arith import ArithTask

    return ArithTask(o)


def _arith_1dc(o: EvalOptions) -> Task:
    from fastprune.evaluate.arith_1dc import Arith1dcTask

    return Arith1dcTask(o)


def _parens(o: EvalOptions) -> Task:
    from fastprune.evaluate.parens import ParensTask

    return ParensTask(o)


def _gsm8k(o: EvalOptions) -> Task:
    from fastprune.evaluate.gsm8k import GSM8KTask

    return GSM8KTask(o, shots=0)


def _gsm8k_fewshot(o: EvalOptions) -> Task:
    from fastprune.evaluate.gsm8k import GSM8KTask

    if o.gsm8k_shots < 1:
        raise FastpruneError(f"--gsm8k-shots must be >= 1 for gsm8k_fewshot, got {o.gsm8k_shots}")
    return GSM8KTask(o, shots=o.gsm8k_shots)


def _piqa(o: EvalOptions) -> Task:
    from fastprune.evaluate.multiple_choice import PIQATask

    return PIQATask(o)


def _ppl(o: EvalOptions) -> Task:
    from fastprune.evaluate.perplexity import PerplexityTask

    return PerplexityTask(o)


def _humaneval(o: EvalOptions) -> Task:
    from fastprune.evaluate.humaneval import HumanEvalTask

    return HumanEvalTask(o)


def _mbpp(o: EvalOptions) -> Task:
    from fastprune.evaluate.mbpp import MBPPTask

    return MBPPTask(o)


def _xsum(o: EvalOptions) -> Task:
    from fastprune.evaluate.xsum import XSumTask

    return XSumTask(o)


def _math500(o: EvalOptions) -> Task:
    from fastprune.evaluate.math500 import Math500Task

    return Math500Task(o)


TASKS: dict[str, tuple[Callable[[EvalOptions], Task], str]] = {
    "arith": (_arith, "seeded few-shot arithmetic (1dc, 1-3 digit add/sub/mul): exact match, first digit"),
    "arith_1dc": (_arith_1dc, "the paper's 1dc protocol: 3-shot, argmax over the ten digits, chance 10%"),
    "parens": (_parens, "close a Dyck-3 bracket prefix; exact match per depth"),
    "gsm8k": (_gsm8k, "GSM8K test, zero-shot chat, answer in \\boxed{}"),
    "gsm8k_fewshot": (_gsm8k_fewshot, "GSM8K test, few-shot chain-of-thought completion"),
    "piqa": (_piqa, "PIQA validation, log-likelihood acc / acc_norm"),
    "ppl": (_ppl, "perplexity of a text file (WikiText-2 test by default), sliding window"),
    "humaneval": (_humaneval, "HumanEval, sandboxed, pass@k and failure categories"),
    "math500": (_math500, "MATH-500 (--math500-file or the hub), \\boxed{} answer equivalence"),
    "mbpp": (_mbpp, "MBPP (--mbpp-file or the hub), first test in the prompt, sandboxed"),
    "xsum": (_xsum, "XSum (--xsum-file or the hub), one-sentence summary, ROUGE-L F1"),
}
PARAMETERISED = {
    "mc": "mc:PATH  any multiple-choice JSONL (question, choices, answer)",
    "lm_eval": "lm_eval:NAME  an lm-evaluation-harness task or group (pip install lm_eval)",
}


def known_tasks() -> str:
    return ", ".join([*TASKS, *(v.split()[0] for v in PARAMETERISED.values())])


def parse_task_list(text: str) -> list[str]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise FastpruneError(f"--tasks is empty; known tasks: {known_tasks()}")
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise FastpruneError(f"--tasks names {', '.join(sorted(dupes))} more than once")
    return names


def make_task(name: str, options: EvalOptions, lm_eval_include: Sequence[str | Path] = ()) -> Task:
    """The task called ``name``; an unknown name lists the known ones.

    ``lm_eval_include``: folders of local lm-eval task YAMLs, searched for ``lm_eval:NAME`` tasks.
    """
    if name in TASKS:
        return TASKS[name][0](options)
    prefix, _, value = name.partition(":")
    if prefix == "mc" and value:
        from fastprune.evaluate.multiple_choice import MultipleChoiceTask

        return MultipleChoiceTask(value)
    if prefix == "lm_eval" and value:
        from fastprune.evaluate.lm_eval_bridge import LmEvalTask

        return LmEvalTask(value, lm_eval_include)
    raise FastpruneError(f"unknown task {name!r}; known tasks: {known_tasks()}")


def make_tasks(text: str, options: EvalOptions, lm_eval_include: Sequence[str | Path] = ()) -> list[Task]:
    return [make_task(n, options, lm_eval_include) for n in parse_task_list(text)]
