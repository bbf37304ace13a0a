"""Every task declares what it is (kind, primary metric, direction, chance) and its options groups."""

import dataclasses

import pytest

from fastprune.evaluate.registry import PARAMETERISED, TASKS, task_info
from fastprune.evaluate.task import KINDS, Task, TaskInfo, contrast_group, positive_ints
from fastprune.options import option_fields

ALL = [*TASKS.values(), *PARAMETERISED.values()]


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.name)
def test_every_task_declares_its_metadata(cls):
    assert issubclass(cls, Task)
    info = cls.info
    assert isinstance(info, TaskInfo) and info.kind in KINDS and info.primary and info.description
    assert isinstance(info.higher_is_better, bool)
    assert info.chance is None or 0.0 <= info.chance <= 1.0
    if cls.parameterised:
        assert info.usage and info.usage.startswith(f"{cls.name}:")
    for group, options_cls in cls.option_groups.items():
        assert group.isidentifier() and dataclasses.is_dataclass(options_cls)
        assert option_fields(options_cls)  # declared with fastprune.options.option(), help included
        options_cls()  # the defaults are valid


def test_the_builtin_kinds():
    kinds = {name: cls.info.kind for name, cls in TASKS.items()}
    assert kinds == {"arith": "generative", "arith_1dc": "next-token-probe", "parens": "generative",
                     "gsm8k": "generative", "gsm8k_fewshot": "generative", "piqa": "multiple-choice",
                     "ppl": "loglikelihood-perplexity", "humaneval": "code-exec", "math500": "generative",
                     "mbpp": "code-exec", "xsum": "generative"}
    assert TASKS["ppl"].info.higher_is_better is False
    assert task_info("mc:any.jsonl").kind == "multiple-choice" and task_info("lm_eval:piqa").kind == "external"
    assert task_info("nope") is None and task_info("nope:x") is None


def test_kinds_map_to_the_contrast():
    assert contrast_group("multiple-choice") == "classification"
    assert contrast_group("generative") == contrast_group("code-exec") == "generative"
    assert contrast_group("next-token-probe") == "reasoning probe"
    assert contrast_group("loglikelihood-perplexity") is None and contrast_group(None) is None


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="not one of"):
        TaskInfo("classification", "acc", "x")


def test_positive_ints():
    import argparse

    assert positive_ints("1, 10") == (1, 10)
    for bad in ("0", "x", ","):
        with pytest.raises(argparse.ArgumentTypeError):
            positive_ints(bad)
