"""Log-likelihood multiple choice: ``piqa`` and any JSONL with ``question``, ``choices``, ``answer``.

Each choice is scored as the continuation " <choice>" of "Question: ...\\nAnswer:" (lm-eval's format).
``acc`` picks the highest summed log-likelihood; ``acc_norm`` divides by the continuation's length in
characters first, as lm-eval does, so long answers are not penalised for having more tokens. All
(context, continuation) pairs of a task go through ``EvalModel.loglikelihood`` in padded batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from fastprune.errors import FastpruneError
from fastprune.evaluate.datafiles import local_data_file, read_jsonl
from fastprune.evaluate.probes import mean
from fastprune.evaluate.task import ItemMetric, Task, TaskInfo, TaskResult, take
from fastprune.options import option


@dataclass
class PIQAOptions:
    dir: Path | None = option(None, help="folder with PIQA valid.jsonl + valid-labels.lst")


@dataclass(frozen=True)
class Item:
    context: str
    choices: tuple[str, ...]
    label: int
    id: str | None = None  # the file's own id if it has one, else the item's position


def score_items(lm, items: list[Item]) -> TaskResult:
    pairs = []
    for item in items:
        ctx = lm.prompt_ids(item.context)
        for c in item.choices:
            pairs.append((ctx, lm.encode(" " + c)))
    scores = lm.loglikelihood(pairs)
    samples, k = [], 0
    for index, item in enumerate(items):
        lls = [scores[k + j][0] for j in range(len(item.choices))]
        k += len(item.choices)
        norm = [ll / max(1, len(c)) for ll, c in zip(lls, item.choices, strict=True)]
        pred = max(range(len(lls)), key=lls.__getitem__)
        pred_norm = max(range(len(norm)), key=norm.__getitem__)
        samples.append({
            "id": item.id or str(index),
            "prompt": item.context, "choices": list(item.choices), "loglik": lls, "target": item.label,
            "extracted": pred, "pred_norm": pred_norm, "correct": pred == item.label,
            "correct_norm": pred_norm == item.label,
        })
    metrics = {
        "acc": mean([s["correct"] for s in samples]),
        "acc_norm": mean([s["correct_norm"] for s in samples]),
    }
    chance = sum(1 / len(item.choices) for item in items) / len(items) if items else 0.0
    return TaskResult(metrics, len(samples), samples, primary="acc_norm",
                      item_metrics={"acc": ItemMetric("correct"), "acc_norm": ItemMetric("correct_norm")},
                      chance={"acc": chance, "acc_norm": chance})


def context_of(question: str) -> str:
    return f"Question: {question}\nAnswer:"


def load_piqa(options: PIQAOptions, data_dir: Path | None = None) -> list[Item]:
    if options.dir is not None:
        folder = Path(options.dir)
        data, labels_file = folder / "valid.jsonl", folder / "valid-labels.lst"
    else:
        data = local_data_file(data_dir, "piqa/valid.jsonl")
        labels_file = local_data_file(data_dir, "piqa/valid-labels.lst")
        if data is None or labels_file is None:
            raise FastpruneError("PIQA files (piqa/valid.jsonl + valid-labels.lst) not found in the shared "
                                 "data folder; give their folder with --piqa-dir")
    records = read_jsonl(data, ("goal", "sol1", "sol2"))
    if not labels_file.is_file():
        raise FastpruneError(f"PIQA labels file {labels_file} does not exist")
    labels = [line.strip() for line in labels_file.read_text().splitlines() if line.strip()]
    if len(labels) != len(records):
        raise FastpruneError(
            f"{labels_file} has {len(labels)} labels for {len(records)} PIQA records in {data}"
        )
    if any(lab not in ("0", "1") for lab in labels):
        raise FastpruneError(f"{labels_file}: labels must be 0 or 1")
    return [Item(context_of(r["goal"]), (r["sol1"], r["sol2"]), int(lab)) for r, lab in zip(records, labels,
                                                                                            strict=True)]


def load_mc_jsonl(path: str | Path) -> list[Item]:
    """Items of a ``question`` / ``choices`` (list) / ``answer`` (index, letter or choice text) JSONL."""
    items = []
    for lineno, r in enumerate(read_jsonl(path, ("question", "choices", "answer")), 1):
        choices, answer = r["choices"], r["answer"]
        where = f"{path} record {lineno}"
        if not isinstance(choices, list) or len(choices) < 2 or not all(isinstance(c, str) for c in choices):
            raise FastpruneError(f"{where}: 'choices' must be a list of at least two strings")
        if isinstance(answer, bool) or not isinstance(answer, int | str):
            raise FastpruneError(f"{where}: 'answer' must be an index, a letter or one of the choices")
        if isinstance(answer, str):
            if answer in choices:
                answer = choices.index(answer)
            elif len(answer) == 1 and answer.upper() in "ABCDEFGHIJ"[: len(choices)]:
                answer = "ABCDEFGHIJ".index(answer.upper())
            else:
                raise FastpruneError(f"{where}: answer {answer!r} is neither a letter nor one of the choices")
        if not 0 <= answer < len(choices):
            raise FastpruneError(f"{where}: answer index {answer} is outside 0..{len(choices) - 1}")
        items.append(Item(context_of(r["question"]), tuple(choices), answer,
                          str(r["id"]) if r.get("id") is not None else None))
    return items


class PIQATask(Task):
    name = "piqa"
    info = TaskInfo("multiple-choice", "acc_norm", "PIQA validation, log-likelihood acc / acc_norm", chance=0.5)
    option_groups: ClassVar[dict[str, type]] = {"piqa": PIQAOptions}

    def run(self, lm, limit: int | None, seed: int) -> TaskResult:
        return score_items(lm, take(load_piqa(self.options.piqa, self.options.data_dir), limit))


class MultipleChoiceTask(Task):
    """``mc:PATH``: any multiple-choice JSONL file."""

    name = "mc"
    info = TaskInfo("multiple-choice", "acc_norm", "any multiple-choice JSONL (question, choices, answer)",
                    usage="mc:PATH")
    parameterised = True

    def __init__(self, path: str):
        self.path = Path(path)
        self.name = f"mc:{self.path.stem}"
        load_mc_jsonl(self.path)  # validate before any model is loaded

    @classmethod
    def build(cls, options, value: str | None = None) -> MultipleChoiceTask:
        return cls(value)

    def run(self, lm, limit: int | None, seed: int) -> TaskResult:
        return score_items(lm, take(load_mc_jsonl(self.path), limit))
