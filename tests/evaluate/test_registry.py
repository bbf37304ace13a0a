from pathlib import Path

import pytest

from fastprune.errors import FastpruneError
from fastprune.evaluate import EvaluateOptions
from fastprune.evaluate.gsm8k import GSM8KOptions
from fastprune.evaluate.math500 import Math500Options
from fastprune.evaluate.mbpp import MBPPOptions
from fastprune.evaluate.registry import TASKS, make_task, make_tasks, parse_task_list
from fastprune.evaluate.xsum import XSumOptions

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
