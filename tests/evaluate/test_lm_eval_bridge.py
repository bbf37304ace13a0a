import json
import sys
from pathlib import Path

import pytest

from fastprune.cli import main
from fastprune.errors import FastpruneError
from fastprune.evaluate import EvaluateOptions
from fastprune.evaluate.lm_eval_bridge import to_task_result
from fastprune.evaluate.registry import make_task

LM_EVAL_DIR = Path(__file__).parent / "fixtures" / "lm_eval"
ROWS = LM_EVAL_DIR / "piqa_mini.jsonl"  # read by the YAML task piqa_mini and by our mc: task alike

needs_lm_eval = pytest.mark.skipif(
    __import__("importlib").util.find_spec("lm_eval") is None,
    reason="lm-evaluation-harness is not installed (pip install lm_eval)",
)


@pytest.fixture
def offline_in_fixture_dir(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    # the YAML's data_files is relative, and lm-eval (via datasets) resolves it against the cwd
    monkeypatch.chdir(LM_EVAL_DIR)


@pytest.fixture(scope="module")
def pruned(tmp_path_factory):
    out = tmp_path_factory.mktemp("lm_eval") / "pruned"
    assert main(["prune", "tiny:llama:4", "--strategy", "reverse", "--drop", "1", "--out", str(out),
                 "--quiet"]) == 0
    assert json.loads((out / "config.json").read_text())["num_hidden_layers"] == 3
    return out


# ---- without lm-eval ------------------------------------------------------------------------------
def test_missing_lm_eval_names_the_install_command(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "lm_eval", None)  # makes `import lm_eval` raise ImportError
    with pytest.raises(FastpruneError, match="pip install lm_eval"):
        make_task("lm_eval:piqa_mini", EvaluateOptions(lm_eval_include=[LM_EVAL_DIR]))
    rc = main(["eval", "tiny:llama:1", "--tasks", "lm_eval:piqa_mini", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: ") and "pip install lm_eval" in err and err.count("\n") == 1
    assert not (tmp_path / "o" / "scores.json").exists()


def test_lm_eval_output_types_become_our_kinds():
    from types import SimpleNamespace

    from fastprune.evaluate.lm_eval_bridge import kind_of, output_types

    mc, gen = SimpleNamespace(OUTPUT_TYPE="multiple_choice"), SimpleNamespace(config=SimpleNamespace(
        output_type="generate_until"))
    assert output_types({"a": mc, "group": {"b": gen, "c": {}}}) == {"multiple_choice", "generate_until"}
    assert kind_of({"multiple_choice"}) == "multiple-choice" and kind_of({"generate_until"}) == "generative"
    assert kind_of({"loglikelihood_rolling"}) == "loglikelihood-perplexity"
    assert kind_of({"multiple_choice", "generate_until"}) == kind_of({"loglikelihood"}) == kind_of(set()) == "external"


def test_empty_lm_eval_name_is_an_unknown_task():
    with pytest.raises(FastpruneError, match="unknown task 'lm_eval:'.*lm_eval:NAME"):
        make_task("lm_eval:", EvaluateOptions())


def _out(results: dict, **extra) -> dict:
    """A dict shaped like ``lm_eval.simple_evaluate``'s return value (as lm-eval 0.4.13 writes it)."""
    return {"results": results, "group_subtasks": {}, "higher_is_better": {}, "samples": {}, **extra}


def test_results_become_our_metrics_with_acc_norm_primary():
    out = _out(
        {"t": {"alias": "t", "name": "t", "sample_len": 6, "acc,none": 0.5, "acc_stderr,none": 0.2,
               "acc_norm,none": 0.75, "acc_norm_stderr,none": "N/A"}},
        **{"n-samples": {"t": {"original": 10, "effective": 6}}},
        samples={"t": [{"doc_id": 0, "doc": {"q": "x"}, "target": 1, "arguments": [("ctx", " a"), ("ctx", " b")],
                        "filtered_resps": [(-2.0, False), (-1.0, True)], "metrics": ["acc", "acc_norm"],
                        "acc": 1.0, "acc_norm": 0.0}]},
    )
    result = to_task_result(out, "t")
    assert result.metrics == {"acc": 0.5, "acc_stderr": 0.2, "acc_norm": 0.75}
    assert result.primary == "acc_norm" and result.n == 6 and result.higher_is_better
    assert result.samples == [{"task": "t", "doc_id": 0, "prompt": "ctx", "target": 1,
                               "responses": [(-2.0, False), (-1.0, True)], "doc": {"q": "x"},
                               "acc": 1.0, "acc_norm": 0.0, "correct": True}]


def test_filtered_metrics_first_number_primary_and_lower_is_better():
    out = _out({"g": {"exact_match_stderr,strict-match": 0.1, "exact_match,strict-match": 0.25,
                      "exact_match,flexible-extract": 0.5}},
               **{"n-samples": {"g": {"effective": 4}}}, higher_is_better={"g": {"exact_match": False}})
    result = to_task_result(out, "g")
    assert result.primary == "exact_match/strict-match" and not result.higher_is_better
    assert result.metrics["exact_match/flexible-extract"] == 0.5 and result.n == 4


def test_group_counts_the_samples_of_its_leaf_tasks():
    out = _out({"grp": {"acc,none": 0.5}, "a": {"acc,none": 1.0}, "b": {"acc,none": 0.0}},
               group_subtasks={"grp": ["a", "sub"], "sub": ["b"], "a": [], "b": []},
               **{"n-samples": {"a": {"effective": 3}, "b": {"effective": 5}}})
    result = to_task_result(out, "grp")
    assert result.metrics == {"acc": 0.5} and result.primary == "acc" and result.n == 8


@pytest.mark.parametrize(
    ("results", "message"),
    [({"other": {"acc,none": 1.0}}, "no results for 't'"),
     ({"t": {"alias": "t", "acc_stderr,none": 0.1}}, "no numeric metric for 't'")],
)
def test_results_without_a_score_are_clear_errors(results, message):
    with pytest.raises(FastpruneError, match=message):
        to_task_result(_out(results), "t")


# ---- with lm-eval ---------------------------------------------------------------------------------
@needs_lm_eval
def test_pruned_checkpoint_runs_under_lm_eval_unchanged(pruned, offline_in_fixture_dir):
    import lm_eval
    from lm_eval.tasks import TaskManager

    from fastprune.evaluate.lm import EvalModel
    from fastprune.evaluate.multiple_choice import MultipleChoiceTask
    from fastprune.models import load_model

    out = lm_eval.simple_evaluate(
        model="hf", model_args=f"pretrained={pruned},dtype=float32", tasks=["piqa_mini"],
        task_manager=TaskManager(include_path=str(LM_EVAL_DIR), include_defaults=False), limit=6,
        device="cpu", batch_size=4,
    )
    theirs = out["results"]["piqa_mini"]
    ours = MultipleChoiceTask(str(ROWS)).run(EvalModel(load_model(str(pruned), dtype="float32")), None, 0)
    assert out["n-samples"]["piqa_mini"]["effective"] == ours.n == 6
    assert theirs["acc,none"] == pytest.approx(ours.metrics["acc"], abs=1e-12)
    # the same prompts give the same per-choice log-likelihoods, not just the same accuracy
    samples = sorted(out["samples"]["piqa_mini"], key=lambda s: s["doc_id"])
    their_ll = [r[0] for s in samples for r in s["filtered_resps"]]
    assert their_ll == pytest.approx([ll for s in ours.samples for ll in s["loglik"]], rel=1e-5)
    # acc_norm divides by len(choice) without the leading space, in both
    assert theirs["acc_norm,none"] == pytest.approx(ours.metrics["acc_norm"], abs=1e-12)


@needs_lm_eval
def test_cli_delegates_lm_eval_tasks_with_limit_and_include(pruned, offline_in_fixture_dir, tmp_path, capsys):
    out = tmp_path / "eval"
    rc = main(["eval", str(pruned), "--tasks", f"lm_eval:piqa_mini,mc:{ROWS}", "--lm-eval-include",
               str(LM_EVAL_DIR), "--limit", "4", "--dtype", "float32", "--out", str(out), "--no-progress"])
    assert rc == 0
    scores = json.loads((out / "scores.json").read_text())[str(pruned)]
    bridged = scores["lm_eval:piqa_mini"]
    assert bridged["n"] == 4 and scores["mc:piqa_mini"]["n"] == 4
    assert bridged["meta"] == {"kind": "multiple-choice", "primary": "acc_norm", "higher_is_better": True}
    assert {"acc", "acc_norm", "acc_stderr", "acc_norm_stderr"} <= set(bridged)
    assert bridged["acc"] == pytest.approx(scores["mc:piqa_mini"]["acc"], abs=1e-12)
    rows = [json.loads(line) for line in next((out / "samples").glob("*/lm_eval_piqa_mini.jsonl")).open()]
    assert [r["doc_id"] for r in sorted(rows, key=lambda r: r["doc_id"])] == [0, 1, 2, 3]
    assert rows[0]["prompt"].startswith("Question: ") and isinstance(rows[0]["correct"], bool)
    table = capsys.readouterr().out
    assert "lm_eval:piqa_mini (n=4)  acc_norm" in table


@needs_lm_eval
def test_unknown_lm_eval_task_and_bad_include_fail_before_loading(tmp_path, capsys):
    rc = main(["eval", "no/such-model", "--tasks", "lm_eval:piqa_mini", "--lm-eval-include",
               str(tmp_path / "missing"), "--out", str(tmp_path / "o")])
    assert rc == 2 and "is not a folder of lm-eval task YAML files" in capsys.readouterr().err
    # not found locally: the full built-in index is searched, and near names are offered
    with pytest.raises(FastpruneError, match="no task or group named 'piqa_mimi'; close matches: .*piqa_mini"):
        make_task("lm_eval:piqa_mimi", EvaluateOptions(lm_eval_include=[LM_EVAL_DIR]))


@needs_lm_eval
def test_missing_task_data_fails_before_any_model_loads(offline_in_fixture_dir, tmp_path, capsys):
    rc = main(["eval", "no/such-model", "--tasks", "lm_eval:missing_data", "--lm-eval-include",
               str(LM_EVAL_DIR), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1
    assert "lm-eval could not build task 'missing_data'" in err and "does_not_exist.jsonl" in err


@needs_lm_eval
@pytest.mark.embedded
def test_embedded_model_bridge_scores_the_pairs_our_mc_task_scores(embedded_lm, offline_in_fixture_dir):
    # a real BPE tokenizer: lm-eval encodes context + continuation whole and splits, we encode the two
    # apart; on these prompts both give the same tokens, so the same log-likelihoods
    from fastprune.evaluate.lm_eval_bridge import LmEvalTask
    from fastprune.evaluate.multiple_choice import MultipleChoiceTask

    bridged = LmEvalTask("piqa_mini", [LM_EVAL_DIR]).run(embedded_lm, 2, 0)
    ours = MultipleChoiceTask(str(ROWS)).run(embedded_lm, 2, 0)
    assert bridged.n == ours.n == 2 and bridged.metrics["acc"] == pytest.approx(ours.metrics["acc"])
    theirs = [r[0] for s in sorted(bridged.samples, key=lambda s: s["doc_id"]) for r in s["responses"]]
    assert theirs == pytest.approx([ll for s in ours.samples for ll in s["loglik"]], rel=1e-5)
