"""The generative-task base: docs -> prompt -> generate -> extract -> score, lm-eval's ``generate_until``.

A generative task says where its documents come from (``docs``), how a document becomes a prompt
(``prompt``) and a reference (``target``), how the answer is read from the generation (``extract``) and
how it is scored (``score``: the record's ``correct`` plus any task-specific fields). The base does the
rest the same way for every task: one batched ``lm.generate`` over all prompts (``samples_per_doc``
copies each, for pass@k), one record per generation with the prompt, the generation, what was extracted,
the target, the score, the finish reason and the token count, the primary metric as the mean of
``correct``, and the degeneration metrics of the generations.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from fastprune.evaluate.probes import generation_metrics, mean
from fastprune.evaluate.task import Task, TaskResult, take


class GenerativeTask(Task):
    chat: bool = True  # prompts go through the chat template (False: plain completion)
    stop_strings: tuple[str, ...] = ()
    default_max_new_tokens: ClassVar[int] = 512  # --max-new-tokens overrides it
    temperature: float | None = None  # None: greedy, the engine's default
    samples_per_doc: int = 1

    def __init__(self, options: Any):
        super().__init__(options)
        self.max_new_tokens = options.max_new_tokens or self.default_max_new_tokens

    # -- what a task defines ------------------------------------------------------------------------
    def docs(self) -> Sequence:
        raise NotImplementedError

    def prompt(self, doc) -> str:
        raise NotImplementedError

    def target(self, doc) -> Any:
        return None

    def extract(self, doc, generation: str) -> Any:
        return generation.strip()

    def score(self, doc, target, extracted, generation) -> dict:
        """The record's score fields: at least ``correct`` (bool, or a real number for graded metrics)."""
        raise NotImplementedError

    def doc_fields(self, doc) -> dict:
        """Fields of the document worth keeping in its record (ids, subject, ...)."""
        return {}

    def extra_metrics(self, samples: list[dict]) -> dict[str, float]:
        return {}

    # -- the shared steps ---------------------------------------------------------------------------
    def prompt_ids(self, lm, text: str) -> list[int]:
        return lm.prompt_ids(text, chat=True) if self.chat else lm.prompt_ids(text)

    def generate(self, lm, prompts: list[list[int]], seed: int) -> list:
        kwargs = {} if self.temperature is None else {"temperature": self.temperature}
        return lm.generate(prompts, self.max_new_tokens, seed=seed, stop_strings=self.stop_strings, **kwargs)

    def score_all(self, docs: list, targets: list, extracted: list, gens: list) -> list[dict]:
        """Score fields per generation; code tasks override it to run every program in one sandbox batch."""
        return [self.score(d, t, x, g) for d, t, x, g in zip(docs, targets, extracted, gens, strict=True)]

    def record(self, doc, text: str, generation, target, extracted, scored: dict) -> dict:
        """One sample's record; ``target`` is left out when the task has none (code tasks: the tests are it)."""
        reference = {} if target is None else {"target": target}
        return {**self.doc_fields(doc), "prompt": text, "generation": generation.text, "extracted": extracted,
                **reference, **scored, "finish_reason": generation.finish_reason,
                "num_tokens": generation.num_tokens}

    def metrics(self, samples: list[dict]) -> dict[str, float]:
        return {self.info.primary: mean([s["correct"] for s in samples]), **self.extra_metrics(samples),
                **generation_metrics(samples)}

    def result(self, docs: list, samples: list[dict]) -> TaskResult:
        return TaskResult(self.metrics(samples), len(docs), samples, primary=self.info.primary,
                          higher_is_better=self.info.higher_is_better)

    def run(self, lm, limit: int | None, seed: int) -> TaskResult:
        docs = take(list(self.docs()), limit)
        targets = [self.target(d) for d in docs]  # before generating: a bad reference fails fast
        texts = [self.prompt(d) for d in docs]
        ids = [self.prompt_ids(lm, t) for t in texts]
        per_gen = [i for i in range(len(docs)) for _ in range(self.samples_per_doc)]
        gens = self.generate(lm, [ids[i] for i in per_gen], seed)
        gen_docs, gen_targets = [docs[i] for i in per_gen], [targets[i] for i in per_gen]
        extracted = [self.extract(d, g.text) for d, g in zip(gen_docs, gens, strict=True)]
        scored = self.score_all(gen_docs, gen_targets, extracted, gens)
        samples = [self.record(docs[i], texts[i], g, targets[i], x, s)
                   for i, g, x, s in zip(per_gen, gens, extracted, scored, strict=True)]
        return self.result(docs, samples)
