from pathlib import Path

import pytest

from fastprune.errors import FastpruneError
from fastprune.evaluate import EvaluateOptions
from fastprune.evaluate.multiple_choice import (
    Item,
    MultipleChoiceTask,
    PIQAOptions,
    PIQATask,
    load_mc_jsonl,
    load_piqa,
    score_items,
)

FIXTURES = Path(__file__).parent / "fixtures"


def test_mc_jsonl_answers_by_index_text_and_letter():
    items = load_mc_jsonl(FIXTURES / "mc.jsonl")
    assert [i.label for i in items] == [0, 1, 2]
    assert items[0].context == "Question: Which is a colour?\nAnswer:"


def test_mc_missing_field_names_file_line_and_fields():
    with pytest.raises(FastpruneError, match=r"mc_missing_choices.jsonl:2: missing field\(s\) choices"):
        load_mc_jsonl(FIXTURES / "mc_missing_choices.jsonl")


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ('{"question": "q", "choices": ["a"], "answer": 0}', "at least two"),
        ('{"question": "q", "choices": ["a", "b"], "answer": 5}', "outside"),
        ('{"question": "q", "choices": ["a", "b"], "answer": "zzz"}', "neither"),
        ('{"question": "q", "choices": ["a", "b"], "answer": null}', "index"),
    ],
)
def test_mc_bad_records(tmp_path, line, match):
    path = tmp_path / "x.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(FastpruneError, match=match):
        load_mc_jsonl(path)


def test_piqa_real_files(shared_data):
    items = load_piqa(PIQAOptions())
    assert len(items) == 1838 and {i.label for i in items} == {0, 1}
    assert all(len(i.choices) == 2 for i in items)


def test_piqa_label_count_mismatch(tmp_path, shared_data):
    src = Path(shared_data) / "piqa"
    (tmp_path / "valid.jsonl").write_text("".join((src / "valid.jsonl").read_text().splitlines(True)[:3]))
    (tmp_path / "valid-labels.lst").write_text("0\n1\n")
    with pytest.raises(FastpruneError, match="2 labels for 3"):
        load_piqa(PIQAOptions(dir=tmp_path))


class TableLM:
    """Log-likelihood from a table keyed by the continuation text: checks acc vs acc_norm."""

    def __init__(self, table):
        self.table = table

    def prompt_ids(self, text):
        return [1]

    def encode(self, text):
        return [ord(c) for c in text]

    def loglikelihood(self, pairs):
        return [(self.table["".join(map(chr, cont)).strip()], False) for _, cont in pairs]


def test_acc_vs_acc_norm():
    # "a long right answer" has the lower total log-likelihood but the higher per-character one
    lm = TableLM({"short": -4.0, "a long right answer": -10.0})
    result = score_items(lm, [Item("Question: q\nAnswer:", ("short", "a long right answer"), 1)])
    assert result.metrics == {"acc": 0.0, "acc_norm": 1.0}
    assert result.samples[0]["extracted"] == 0 and result.samples[0]["pred_norm"] == 1


def test_tasks_on_tiny_model(tiny_lm, shared_data):
    r = PIQATask(EvaluateOptions()).run(tiny_lm, limit=6, seed=0)
    assert r.n == 6 and set(r.metrics) == {"acc", "acc_norm"} and r.primary == "acc_norm"
    assert all(len(s["loglik"]) == 2 and max(s["loglik"]) < 0 for s in r.samples)
    task = MultipleChoiceTask(str(FIXTURES / "mc.jsonl"))
    assert task.name == "mc:mc"
    r = task.run(tiny_lm, limit=None, seed=0)
    assert r.n == 3 and [len(s["loglik"]) for s in r.samples] == [3, 2, 4]
