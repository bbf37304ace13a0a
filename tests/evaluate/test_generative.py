"""The generative-task base: docs -> prompt -> generate -> extract -> score, the same for every task."""

from typing import ClassVar

import pytest

from fastprune.evaluate import EvaluateOptions
from fastprune.evaluate.generative import GenerativeTask
from fastprune.evaluate.lm import Generation
from fastprune.evaluate.task import TaskInfo


class Sums(GenerativeTask):
    name = "sums"
    info = TaskInfo("generative", "exact_match", "a + b")
    default_max_new_tokens = 7
    stop_strings = ("\n",)
    docs_: ClassVar[list[dict]] = [{"id": "x1", "a": 1, "b": 2}, {"id": "x2", "a": 2, "b": 2},
                                   {"id": "x3", "a": 9, "b": 9}]

    def docs(self):
        return self.docs_

    def prompt(self, doc):
        return f"{doc['a']}+{doc['b']}="

    def target(self, doc):
        if doc["a"] < 0:
            raise ValueError("bad reference")
        return str(doc["a"] + doc["b"])

    def extract(self, doc, generation):
        return generation.strip().split()[0] if generation.strip() else None

    def score(self, doc, target, extracted, generation):
        return {"correct": extracted == target}

    def doc_fields(self, doc):
        return {"id": doc["id"]}


class EchoLM:
    """Answers "3" to everything; records what the task asked for."""

    def __init__(self):
        self.calls, self.chat = [], []

    def prompt_ids(self, text, chat=False):
        self.chat.append(chat)
        return [len(text)]

    def generate(self, prompts, max_new_tokens, seed=0, stop_strings=(), **kwargs):
        self.calls.append({"n": len(prompts), "max_new_tokens": max_new_tokens, "stop": stop_strings, **kwargs})
        return [Generation(" 3 ok", [1, 2], "stop_string", 2) for _ in prompts]


def test_the_steps_in_order_and_the_record():
    lm = EchoLM()
    r = Sums(EvaluateOptions()).run(lm, limit=2, seed=0)
    assert r.n == 2 and r.primary == "exact_match" and r.higher_is_better
    assert r.samples[0] == {"id": "x1", "prompt": "1+2=", "generation": " 3 ok", "extracted": "3", "target": "3",
                            "correct": True, "finish_reason": "stop_string", "num_tokens": 2}
    assert [s["correct"] for s in r.samples] == [True, False] and r.metrics["exact_match"] == 0.5
    assert {"rep2", "mean_len_words"} <= set(r.metrics)  # the degeneration metrics of every generative task
    assert lm.chat == [True, True]
    assert lm.calls == [{"n": 2, "max_new_tokens": 7, "stop": ("\n",)}]  # greedy: no temperature passed


def test_samples_per_doc_temperature_and_budget():
    lm = EchoLM()
    task = Sums(EvaluateOptions(max_new_tokens=3))
    task.samples_per_doc, task.temperature, task.chat = 2, 0.7, False
    r = task.run(lm, limit=None, seed=0)
    assert r.n == 3 and len(r.samples) == 6 and [s["id"] for s in r.samples[:3]] == ["x1", "x1", "x2"]
    assert lm.calls == [{"n": 6, "max_new_tokens": 3, "stop": ("\n",), "temperature": 0.7}]
    assert lm.chat == [False] * 3


def test_a_bad_reference_fails_before_generating():
    lm = EchoLM()
    task = Sums(EvaluateOptions())
    task.docs_ = [{"id": "y", "a": -1, "b": 0}]
    with pytest.raises(ValueError, match="bad reference"):
        task.run(lm, limit=None, seed=0)
    assert lm.calls == []
