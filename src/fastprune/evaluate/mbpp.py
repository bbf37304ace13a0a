"""``mbpp``: MBPP problems (original or sanitized format), the first test shown in the prompt, sandboxed.

The model answers in chat; the code is taken from the first fenced block of the answer (or the whole
answer when there is none) and run with ``test_setup_code`` and every test of ``test_list`` in the
sandbox, with the same failure categories as HumanEval. Data: ``--mbpp-file`` (JSONL with ``text`` or
``prompt``, ``test_list``) or the hub's sanitized test split.
"""

from __future__ import annotations

import re

from fastprune.errors import FastpruneError
from fastprune.evaluate.datafiles import hub_records, read_jsonl
from fastprune.evaluate.humaneval import summarize
from fastprune.evaluate.probes import generation_metrics
from fastprune.evaluate.sandbox import run_programs, sandbox_kind
from fastprune.evaluate.task import EvalOptions, TaskResult, take

_FENCE_RE = re.compile(r"```(?:python|py|Python)?[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL)


def description(record: dict) -> str:
    return record.get("text") or record.get("prompt") or ""


def build_prompt(record: dict) -> str:
    return (f"You are an expert Python programmer, and here is your task: {description(record)} "
            f"Your code should pass this test:\n\n{record['test_list'][0]}\n\n"
            "Write the complete function in a ```python code block.")


def extract_code(answer: str) -> str:
    """The first fenced code block (an unclosed fence runs to the end), else the whole answer."""
    m = _FENCE_RE.search(answer)
    return m.group(1) if m else answer


def program(record: dict, code: str) -> str:
    setup = record.get("test_setup_code") or ""
    return f"{setup}\n{code}\n\n" + "\n".join(record["test_list"]) + "\n"


def load_records(options: EvalOptions) -> list[dict]:
    if options.mbpp_file is not None:
        records = read_jsonl(options.mbpp_file, ("test_list",))
    else:
        records = hub_records(
            "google-research-datasets/mbpp", "sanitized", "test", ("test_list",), "--mbpp-file"
        )
    for i, r in enumerate(records):
        if not description(r) or not isinstance(r["test_list"], list) or not r["test_list"]:
            raise FastpruneError(f"MBPP record {i + 1}: needs a 'text' (or 'prompt') description and a "
                                 "non-empty 'test_list' of assert statements")
    return records


class MBPPTask:
    name = "mbpp"
    runs_code = True  # executes model-written programs: needs the sandbox

    def __init__(self, options: EvalOptions):
        self.options = options
        self.max_new_tokens = options.max_new_tokens or 512
        self.records = load_records(options)  # a bad file fails before any model loads

    def run(self, lm, limit: int | None, seed: int) -> TaskResult:
        opts = self.options
        records = take(self.records, limit)
        texts = [build_prompt(r) for r in records]
        gens = lm.generate([lm.prompt_ids(t, chat=True) for t in texts], self.max_new_tokens, seed=seed)
        codes = [extract_code(g.text) for g in gens]
        results = run_programs([program(r, c) for r, c in zip(records, codes, strict=True)],
                               opts.sandbox_timeout, opts.sandbox_memory_mb, opts.sandbox_workers,
                               opts.allow_unsandboxed_exec)
        samples = [{
            "task_id": r.get("task_id"), "prompt": t, "generation": g.text, "extracted": c,
            "correct": x.passed, "category": x.category, "error": x.error,
            "finish_reason": g.finish_reason, "num_tokens": g.num_tokens, "sandbox": x.sandbox,
        } for r, t, g, c, x in zip(records, texts, gens, codes, results, strict=True)]
        metrics = {**summarize([[x] for x in results], (1,)), **generation_metrics(samples)}
        return TaskResult(metrics, len(samples), samples, primary="pass@1",
                          info={"sandbox": sandbox_kind(results)})
