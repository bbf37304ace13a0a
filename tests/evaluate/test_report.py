import pytest

from fastprune.evaluate import stats
from fastprune.evaluate.report import format_table, task_scores, verdict, with_interval
from fastprune.evaluate.task import ItemMetric, TaskResult
from fastprune.utils_io import slug

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
    assert piqa.startswith("piqa (n=100)") and "0.700" in piqa and "0.637 (91%)" in piqa
    assert "0.048 (12%)" in next(line for line in lines if line.startswith("gsm8k"))
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
    assert task_scores(r) == {"acc": 1.0, "acc_norm": 0.5, "n": 4, "ci95": {}, "ci_method": {}, "n_items": {}}
    assert slug("/ckpts/run 1/pruned") == "ckpts_run_1_pruned"
    assert slug("tiny:llama:2") == "tiny_llama_2" and slug("///") == "model"


def _result(correct, depth=None):
    samples = [{"id": str(i), "correct": c, "depth": d}
               for i, (c, d) in enumerate(zip(correct, depth or [1] * len(correct), strict=True))]
    items = {"exact_match": ItemMetric("correct"), "exact_match/2": ItemMetric("correct", group=("depth", "2"))}
    return TaskResult({"exact_match": sum(correct) / len(correct)}, len(correct), samples,
                      primary="exact_match", item_metrics=items, chance={"exact_match": 0.1})


def test_task_scores_carry_wilson_intervals_per_metric_and_group():
    entry = task_scores(_result([True] * 8 + [False] * 2, depth=[1] * 5 + [2] * 5))
    assert entry["ci95"]["exact_match"] == pytest.approx(list(stats.wilson_interval(8, 10)))
    assert entry["ci_method"]["exact_match"] == "wilson" and entry["chance"] == {"exact_match": 0.1}
    assert entry["n_items"] == {"exact_match": 10, "exact_match/2": 5}
    assert entry["ci95"]["exact_match/2"] == pytest.approx(list(stats.wilson_interval(3, 5)))


def test_inferred_item_metric_for_tasks_that_declare_none():
    samples = [{"id": str(i), "correct": c} for i, c in enumerate([True, False, True, True])]
    entry = task_scores(TaskResult({"exact_match": 0.75}, 4, samples, primary="exact_match"))
    assert entry["ci95"]["exact_match"] == pytest.approx(list(stats.wilson_interval(3, 4)))
    # a primary that is not the mean of "correct" gets no made-up interval
    entry = task_scores(TaskResult({"pass@1": 0.5}, 4, samples, primary="pass@1"))
    assert entry["ci95"] == {}


def test_table_prints_value_with_interval_and_chance():
    scores = {"base": {"arith": task_scores(_result([True] * 8 + [False] * 2))}}
    table = format_table(scores, {"arith": ("exact_match", True)})
    low, high = stats.wilson_interval(8, 10)
    assert f"0.800 [{low:.3f}, {high:.3f}]" in table and "exact_match (chance 10%)" in table
    assert with_interval(0.5, None) == "0.500" and with_interval(0.5, [float("nan"), 1.0]) == "0.500"


def test_verdict_says_not_resolved_exactly_when_the_test_does_not_reject():
    base = [1] * 18 + [0] * 6
    small = stats.compare_paired("proportion", base, [0, 0] + base[2:])
    assert not small.resolved
    assert verdict(small).endswith("not resolved; n=24: a difference under 0.25 cannot be resolved")
    big = stats.compare_paired("proportion", base, [0] * 12 + base[12:])
    assert big.resolved and verdict(big).endswith("resolved at 95%") and "not resolved" not in verdict(big)
    scores = {"base": {"arith": {"exact_match": 0.75, "n": 24}}, "pruned": {"arith": {"exact_match": 0.25, "n": 24}}}
    table = format_table(scores, {"arith": ("exact_match", True)}, {"pruned": {"arith": big}})
    assert "pruned vs base on arith: difference -0.500" in table and "keeps 33% [" in table


def test_retention_interval_with_a_zero_base_resample():
    from fastprune.evaluate.report import retention_interval

    base = [1, 0, 0, 0, 0, 0, 0, 0, 0, 0]  # resamples without the one right item divide by zero
    c = stats.compare_paired("proportion", base, [1, 1, 0, 0, 0, 0, 0, 0, 0, 0])
    assert c.retention == pytest.approx(2.0)
    low, high = c.retention_ci
    assert 0 < low < 2.0 and high == float("inf")
    assert retention_interval(c) == f" [{100 * low:.0f}%, unbounded]"
    assert retention_interval(None) == ""


def test_task_meta_records_what_the_result_reports(caplog):
    from fastprune.evaluate.report import primaries_of, task_meta
    from fastprune.evaluate.task import TaskInfo

    class Declared:
        name = "t"
        info = TaskInfo("multiple-choice", "acc_norm", "x")

    assert task_meta(Declared(), TaskResult({}, 0, primary="acc_norm")) == {
        "kind": "multiple-choice", "primary": "acc_norm", "higher_is_better": True}
    with caplog.at_level("WARNING"):
        assert task_meta(Declared(), TaskResult({}, 0, primary="acc"))["primary"] == "acc"
    assert "declares primary acc_norm" in caplog.text
    assert task_meta(object(), TaskResult({}, 0, primary="p"))["kind"] is None
    scores = {"a": {"x": {"meta": {"primary": "acc", "higher_is_better": True}}, "old": {}},
              "b": {"y": {"meta": {"primary": "ppl", "higher_is_better": False}}}}
    assert primaries_of(scores, {"old": ("exact_match", True)}) == {
        "x": ("acc", True), "old": ("exact_match", True), "y": ("ppl", False)}
