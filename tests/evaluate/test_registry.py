import json
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from fastprune.errors import FastpruneError
from fastprune.evaluate import EvaluateOptions, run
from fastprune.evaluate.gsm8k import GSM8KOptions
from fastprune.evaluate.math500 import Math500Options
from fastprune.evaluate.mbpp import MBPPOptions
from fastprune.evaluate.options import options_class
from fastprune.evaluate.registry import (
    TASKS,
    make_task,
    make_tasks,
    option_groups,
    parse_task_list,
    register_task,
    unregister_task,
)
from fastprune.evaluate.task import ItemMetric, Task, TaskInfo, TaskResult
from fastprune.evaluate.xsum import XSumOptions
from fastprune.options import option, options_from_mapping, options_to_mapping

FIXTURES = Path(__file__).parent / "fixtures"


def test_every_registered_task_builds(shared_data):
    options = EvaluateOptions(mbpp=MBPPOptions(file=FIXTURES / "mbpp.jsonl"),
                              xsum=XSumOptions(file=FIXTURES / "xsum.jsonl"),
                              math500=Math500Options(file=FIXTURES / "math500.jsonl"))
    for name in TASKS:
        assert make_task(name, options).name == name


@pytest.mark.parametrize(
    ("name", "flag"), [("mbpp", "--mbpp-file"), ("xsum", "--xsum-file"), ("math500", "--math500-file")]
)
def test_hub_only_tasks_fail_fast_offline(name, flag, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FastpruneError, match=f"from the hub.*give {flag}"):
        make_task(name, EvaluateOptions())


def test_unknown_task_lists_known_ones():
    with pytest.raises(FastpruneError, match=r"unknown task 'gsm9k'; known tasks: arith, arith_1dc, parens, gsm8k"):
        make_task("gsm9k", EvaluateOptions())
    with pytest.raises(FastpruneError, match="mc:PATH"):
        make_task("mmlu", EvaluateOptions())


def test_task_list_parsing():
    assert parse_task_list(" arith, parens ,") == ["arith", "parens"]
    with pytest.raises(FastpruneError, match="empty"):
        parse_task_list(" , ")
    with pytest.raises(FastpruneError, match="more than once"):
        parse_task_list("arith,arith")


def test_mc_task_validates_its_file_up_front():
    assert make_tasks(f"mc:{FIXTURES / 'mc.jsonl'}", EvaluateOptions())[0].name == "mc:mc"
    with pytest.raises(FastpruneError, match="missing field"):
        make_task(f"mc:{FIXTURES / 'mc_missing_choices.jsonl'}", EvaluateOptions())
    with pytest.raises(FastpruneError, match="does not exist"):
        make_task("mc:/no/such/file.jsonl", EvaluateOptions())


def test_fewshot_needs_shots():
    with pytest.raises(FastpruneError, match="gsm8k-shots"):
        make_task("gsm8k_fewshot", EvaluateOptions(gsm8k=GSM8KOptions(shots=0)))


# ---- a task registered from outside the package: CLI flags, YAML section and report, no other file -------
@dataclass
class ToyOptions:
    items: int = option(4, help="items of the toy task")


class ToyTask(Task):
    name = "toy"
    info = TaskInfo("multiple-choice", "acc", "every other item right", chance=0.5)
    option_groups = {"toy": ToyOptions}

    def run(self, lm, limit, seed):
        n = self.options.toy.items if limit is None else min(limit, self.options.toy.items)
        samples = [{"id": str(i), "prompt": f"toy {i}", "correct": i % 2 == 0} for i in range(n)]
        return TaskResult({"acc": sum(s["correct"] for s in samples) / n}, n, samples, primary="acc",
                          item_metrics={"acc": ItemMetric("correct")})  # chance: from the declaration


@pytest.fixture
def toy():
    register_task(ToyTask)
    yield ToyTask
    unregister_task("toy")
    assert "toy" not in TASKS and "toy" not in option_groups()


def test_a_registered_task_is_on_the_cli_in_yaml_and_in_the_report(toy, tmp_path, capsys, monkeypatch):
    from fastprune.cli import main
    from fastprune.pipeline.config import RunConfig, config_to_dict
    from fastprune.pipeline.manifest import Manifest
    from fastprune.pipeline.report import write_report
    from fastprune.pipeline.steps import Step

    with pytest.raises(SystemExit):
        main(["eval", "--help"])
    assert "--toy-items" in capsys.readouterr().out
    assert main(["eval", "tiny:llama:1", "--tasks", "toy", "--toy-items", "6", "--out", str(tmp_path / "cli"),
                 "--no-progress"]) == 0
    entry = json.loads((tmp_path / "cli" / "scores.json").read_text())["tiny:llama:1"]["toy"]
    assert entry["n"] == 6 and entry["meta"] == {"kind": "multiple-choice", "primary": "acc", "higher_is_better": True}

    cls = options_class()
    options = options_from_mapping(cls, {"tasks": ["toy"], "toy": {"items": 3}}, "evaluate", models=["m"])
    assert options.toy == ToyOptions(items=3)
    assert options_to_mapping(options)["toy"] == {"items": 3}

    import fastprune.evaluate.runner as eval_runner

    monkeypatch.setattr(eval_runner, "EvalModel", lambda loaded, **kw: None)
    steps = []
    for label in ("base", "pruned"):
        out = tmp_path / "evaluate" / label
        run(replace(options, models=[label], out=out, progress=False), loader=lambda spec: None)
        steps.append(Step(f"evaluate/{label}", "evaluate", [], out / "scores.json", label=label))
    config = RunConfig(stages=["evaluate"])
    report = write_report(tmp_path, config, steps, Manifest(tmp_path, config_to_dict(config))).read_text()
    assert "| toy (n=3) | acc (chance 50%) | 0.667 [" in report
    assert "| pruned | toy |" in report and (tmp_path / "contrast.png").is_file()


def test_registration_checks_name_metadata_and_groups(toy):
    class NoInfo(Task):
        name = "bare"

    class Clash(ToyTask):
        name = "toy2"
        option_groups = {"toy": dict}

    class General(ToyTask):
        name = "toy3"
        option_groups = {"limit": ToyOptions}

    with pytest.raises(ValueError, match="registered already"):
        register_task(ToyTask)
    with pytest.raises(ValueError, match="declares no TaskInfo"):
        register_task(NoInfo)
    with pytest.raises(ValueError, match="'toy' is ToyOptions for another task"):
        register_task(Clash)
    with pytest.raises(ValueError, match="clashes with GeneralOptions.limit"):
        register_task(General)
    assert "toy2" not in TASKS and "toy3" not in TASKS


def test_the_options_class_is_the_same_while_the_registry_is():
    before = options_class()
    register_task(ToyTask)
    try:
        assert options_class() is not before and options_class() is options_class()
    finally:
        unregister_task("toy")
    assert options_class() is before
