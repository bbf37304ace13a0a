from fastprune.evaluate.report import format_table, slug, task_scores
from fastprune.evaluate.task import TaskResult

SCORES = {
    "base": {"piqa": {"acc_norm": 0.70, "n": 100}, "gsm8k": {"exact_match": 0.40, "n": 50},
             "ppl": {"ppl": 10.0, "n": 1000}, "arith": {"exact_match": 0.0, "n": 10}},
    "pruned": {"piqa": {"acc_norm": 0.637, "n": 100}, "gsm8k": {"exact_match": 0.048, "n": 50},
               "ppl": {"ppl": 18.0, "n": 1000}, "arith": {"exact_match": 0.1, "n": 10}},
}
PRIMARIES = {"piqa": ("acc_norm", True), "gsm8k": ("exact_match", True), "ppl": ("ppl", False),
             "arith": ("exact_match", True)}


def test_table_shows_ratios_to_the_first_model():
    table = format_table(SCORES, PRIMARIES)
    lines = table.splitlines()
    assert lines[0].split() == ["task", "metric", "base", "pruned"]
    piqa = next(line for line in lines if line.startswith("piqa"))
    assert "0.7000" in piqa and "0.6370 (91%)" in piqa
    assert "0.0480 (12%)" in next(line for line in lines if line.startswith("gsm8k"))
    assert "18.00 (x1.80)" in next(line for line in lines if line.startswith("ppl"))
    assert "(n/a)" in next(line for line in lines if line.startswith("arith"))
    summary = lines[-1]
    assert summary.startswith("pruned keeps 91% of piqa, 12% of gsm8k, ppl x1.80 of base on ppl")
    assert "arith" not in summary and summary.endswith("(base: base)")


def test_missing_task_and_single_model():
    scores = {"a": {"piqa": {"acc_norm": 0.5, "n": 2}}, "b": {}}
    table = format_table(scores, {"piqa": ("acc_norm", True)})
    assert table.splitlines()[2].split()[-1] == "-"
    assert "keeps" not in format_table({"a": scores["a"]}, {"piqa": ("acc_norm", True)})
    assert format_table({}, {}) == "(no scores)"


def test_task_scores_and_slug():
    r = TaskResult({"acc": 1, "acc_norm": 0.5}, 4)
    assert task_scores(r) == {"acc": 1.0, "acc_norm": 0.5, "n": 4}
    assert slug("/ckpts/run 1/pruned") == "ckpts_run_1_pruned"
    assert slug("tiny:llama:2") == "tiny_llama_2" and slug("///") == "model"
