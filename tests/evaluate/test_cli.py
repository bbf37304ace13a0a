import json
from pathlib import Path

import pytest

from fastprune.cli import main

FIXTURES = Path(__file__).parent / "fixtures"


def test_eval_two_tiny_models_writes_scores_samples_and_table(tmp_path, capsys, shared_data):
    out = tmp_path / "eval"
    tasks = f"arith,parens,piqa,ppl,mc:{FIXTURES / 'mc.jsonl'}"
    rc = main(["eval", "tiny:llama:3", "tiny:llama:1", "--tasks", tasks,
               "--limit", "3", "--out", str(out), "--max-new-tokens", "4", "--ppl-file",
               str(FIXTURES / "short.txt"), "--ppl-max-length", "32", "--ppl-stride", "16", "--no-progress"])
    assert rc == 0
    scores = json.loads((out / "scores.json").read_text())
    assert list(scores) == ["tiny:llama:3", "tiny:llama:1"]
    for model in scores.values():
        assert list(model) == ["arith", "parens", "piqa", "ppl", "mc:mc"]
        assert model["arith"]["n"] == 3 and model["piqa"]["n"] == 3 and model["mc:mc"]["n"] == 3
        assert 0.0 <= model["piqa"]["acc"] <= 1.0 and model["ppl"]["ppl"] > 1
        wanted = {"exact_match", "first_digit_acc", "rep2", "rep3", "rep4", "mean_len_words"}
        assert wanted <= set(model["arith"])
        for task, metric in [("arith", "exact_match"), ("piqa", "acc_norm"), ("ppl", "ppl"), ("mc:mc", "acc")]:
            low, high = model[task]["ci95"][metric]
            assert low <= model[task][metric] <= high
        assert model["piqa"]["chance"]["acc_norm"] == 0.5
    samples = out / "samples" / "1_tiny_llama_1" / "parens.jsonl"
    rows = [json.loads(line) for line in samples.read_text().splitlines()]
    assert len(rows) == 3 and {"id", "prompt", "generation", "extracted", "correct"} <= set(rows[0])
    comparison = json.loads((out / "comparison.json").read_text())
    assert comparison["base"] == "tiny:llama:3"
    assert set(comparison["comparisons"]["tiny:llama:1"]) == {"arith", "parens", "piqa", "ppl", "mc:mc"}
    printed = capsys.readouterr().out
    assert "tiny:llama:1 keeps" in printed or "(n/a)" in printed
    assert "tiny:llama:1 vs tiny:llama:3 on piqa: difference" in printed
    assert printed.strip() == (out / "table.txt").read_text().strip()
    run = json.loads((out / "run.json").read_text())
    assert run["limit"] == 3 and set(run["seconds"]["tiny:llama:1"]) >= {"load", "arith", "ppl"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tasks", "arith,bogus"], "unknown task 'bogus'; known tasks: arith"),
        (["--tasks", f"mc:{FIXTURES / 'mc_missing_choices.jsonl'}"], "missing field(s) choices"),
        (["--limit", "0"], "--limit must be >= 1"),
        (["--max-new-tokens", "0"], "--max-new-tokens"),
        (["--batch-size", "0"], "--batch-size"),
        (["--task-limits", "piqa=3"], "--task-limits names piqa, which --tasks does not run"),
        (["--task-limits", "parens=0"], "--task-limits must be >= 1"),
    ],
)
def test_bad_input_is_one_error_line(tmp_path, capsys, args, message):
    rc = main(["eval", "tiny:llama:1", "--out", str(tmp_path / "o"), "--tasks", "parens", "--limit", "1",
               "--no-progress", *args])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "o" / "scores.json").exists()


def test_same_model_twice_is_rejected(tmp_path, capsys):
    assert main(["eval", "tiny:llama:1", "tiny:llama:1", "--tasks", "parens", "--out", str(tmp_path)]) == 2
    assert "listed twice" in capsys.readouterr().err


@pytest.mark.embedded
def test_embedded_piqa_through_the_cli(tmp_path, embedded, shared_data):
    out = tmp_path / "e"
    assert main(["eval", "smollm2-135m", "--tasks", "piqa", "--limit", "24", "--out", str(out),
                 "--dtype", "float32", "--no-progress"]) == 0
    scores = json.loads((out / "scores.json").read_text())["smollm2-135m"]["piqa"]
    # SmolLM2-135M scores ~0.68 on PIQA; a scoring bug (misaligned continuation) lands near chance
    assert scores["n"] == 24 and scores["acc_norm"] > 0.55


def _humaneval(tmp_path, *extra):
    out = tmp_path / "he"
    rc = main(["eval", "tiny:llama:1", "--tasks", "humaneval", "--limit", "2", "--max-new-tokens", "4",
               "--out", str(out), "--no-progress", *extra])
    return rc, out


def test_code_tasks_record_the_sandbox_they_ran_in(tmp_path):
    from fastprune.evaluate.isolation import detect

    kind = detect().kind
    assert kind in ("bwrap", "unshare")
    rc, out = _humaneval(tmp_path)
    assert rc == 0
    assert json.loads((out / "scores.json").read_text())["tiny:llama:1"]["humaneval"]["sandbox"] == kind
    rows = [json.loads(x) for x in (out / "samples" / "0_tiny_llama_1" / "humaneval.jsonl").read_text().split("\n")
            if x]
    assert len(rows) == 2 and {r["sandbox"] for r in rows} == {kind}
    assert json.loads((out / "run.json").read_text())["sandbox"] == kind


@pytest.fixture
def no_os_sandbox(monkeypatch):
    from fastprune.evaluate import isolation, sandbox

    problem = ("unshare(CLONE_NEWUSER): Operation not permitted. To enable: sysctl -w "
               "user.max_user_namespaces=15000")
    monkeypatch.setattr(isolation, "detect", lambda: isolation.Detection("none", problem))
    monkeypatch.setattr(sandbox, "_warned", False)


def test_without_an_os_sandbox_eval_refuses_to_run_code(tmp_path, capsys, no_os_sandbox):
    rc, out = _humaneval(tmp_path)
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: refusing to run model-written code") and err.count("\n") == 1
    assert "user.max_user_namespaces" in err and "--allow-unsandboxed-exec" in err
    assert not (out / "scores.json").exists()
    # tasks that run no code are not held back
    assert main(["eval", "tiny:llama:1", "--tasks", "parens", "--limit", "1", "--out", str(tmp_path / "p"),
                 "--no-progress"]) == 0


def test_allow_unsandboxed_exec_warns_and_records_none(tmp_path, capsys, no_os_sandbox):
    rc, out = _humaneval(tmp_path, "--allow-unsandboxed-exec")
    captured = capsys.readouterr()
    assert rc == 0 and "WITHOUT an OS sandbox" in captured.err and "WITHOUT an OS sandbox" in captured.out
    assert "WITHOUT an OS sandbox" in (out / "table.txt").read_text()
    assert json.loads((out / "scores.json").read_text())["tiny:llama:1"]["humaneval"]["sandbox"] == "none"
    run = json.loads((out / "run.json").read_text())
    assert run["sandbox"] == "none" and run["options"]["allow_unsandboxed_exec"] == "True"


@pytest.mark.embedded
def test_embedded_humaneval_run_scores_hostile_completions_and_survives_them(tmp_path, monkeypatch):
    # The seam: the real model generates, then a test-only wrapper swaps two completions for hostile ones.
    import dataclasses
    import socket

    from fastprune.evaluate.humaneval import load_problems
    from fastprune.evaluate.lm import EvalModel

    victim = tmp_path / "home"
    (victim / "docs").mkdir(parents=True)
    (victim / "docs" / "notes.txt").write_text("precious")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    server.settimeout(0.5)
    port = server.getsockname()[1]
    damage = (f"    import shutil, socket, sys, ctypes\n"
              f"    for attempt in (lambda: shutil.rmtree({str(victim)!r}),\n"
              f"                    lambda: open({str(tmp_path / 'pwned')!r}, 'w').write('x'),\n"
              f"                    lambda: socket.create_connection(('127.0.0.1', {port}), timeout=2)):\n"
              "        try:\n            attempt()\n        except Exception:\n            pass\n")
    hostile = {0: damage + load_problems()[0]["canonical_solution"],  # tries everything, then answers right
               1: f"    import shutil\n    shutil.rmtree({str(victim)!r})\n"}  # tries, and crashes
    real_generate = EvalModel.generate

    def generate(self, prompts, *args, **kwargs):
        gens = real_generate(self, prompts, *args, **kwargs)
        return [dataclasses.replace(g, text=hostile.get(i, g.text)) for i, g in enumerate(gens)]

    monkeypatch.setattr(EvalModel, "generate", generate)
    out = tmp_path / "e"
    assert main(["eval", "smollm2-135m", "--tasks", "humaneval", "--limit", "3", "--max-new-tokens", "8",
                 "--dtype", "float32", "--out", str(out), "--no-progress"]) == 0
    scores = json.loads((out / "scores.json").read_text())["smollm2-135m"]["humaneval"]
    rows = [json.loads(x) for x in (out / "samples" / "0_smollm2-135m" / "humaneval.jsonl").read_text().split("\n")
            if x]
    assert scores["n"] == 3 and scores["sandbox"] in ("bwrap", "unshare") and scores["pass@1"] >= 1 / 3
    assert rows[0]["correct"] and rows[0]["generation"] == hostile[0]
    assert not rows[1]["correct"] and rows[1]["category"] == "other" and "FileNotFoundError" in rows[1]["error"]
    assert (victim / "docs" / "notes.txt").read_text() == "precious" and not (tmp_path / "pwned").exists()
    try:
        server.accept()[0].close()
        connected = True
    except TimeoutError:
        connected = False
    server.close()
    assert not connected


def test_task_limits_parse_and_override_the_limit(tmp_path):
    import argparse

    from fastprune.cli import build_parser

    eval_parser = build_parser()._subparsers._group_actions[0].choices["eval"]
    _task_limits = next(a for a in eval_parser._actions if a.dest == "task_limits").type  # the generic k=v reader

    assert _task_limits("piqa=600, ppl=24,mc:x.jsonl=5") == {"piqa": 600, "ppl": 24, "mc:x.jsonl": 5}
    for bad in ("piqa", "=3", "piqa=x"):
        with pytest.raises(argparse.ArgumentTypeError):
            _task_limits(bad)
    out = tmp_path / "o"
    assert main(["eval", "tiny:llama:1", "--tasks", "arith,arith_1dc", "--limit", "2", "--task-limits",
                 "arith_1dc=5", "--out", str(out), "--max-new-tokens", "2", "--no-progress"]) == 0
    scores = json.loads((out / "scores.json").read_text())["tiny:llama:1"]
    assert scores["arith"]["n"] == 2 and scores["arith_1dc"]["n"] == 5
    assert json.loads((out / "run.json").read_text())["task_limits"] == {"arith_1dc": 5}
