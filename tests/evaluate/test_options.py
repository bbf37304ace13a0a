"""The evaluate stage's one options dataclass: flags, defaults and the ``evaluate:`` YAML section."""

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from fastprune.errors import FastpruneError
from fastprune.evaluate.cli import register
from fastprune.evaluate.options import options_class
from fastprune.evaluate.registry import PARAMETERISED, TASKS
from fastprune.options import option_fields, options_from_args, options_from_mapping, options_to_mapping

# every flag `fastprune eval` had before tasks owned their options (8e776e9), with its default
OLD_FLAGS = {
    "--tasks": ("tasks", ["arith", "parens", "gsm8k", "piqa", "ppl", "humaneval"]), "--out": ("out", None),
    "--limit": ("limit", None), "--task-limits": ("task_limits", {}), "--seed": ("seed", 0),
    "--batch-size": ("batch_size", 8), "--max-new-tokens": ("max_new_tokens", None), "--dtype": ("dtype", "auto"),
    # one device default for every stage (models.options): auto, a GPU when there is one (was cpu here)
    "--device": ("device", "auto"), "--data-dir": ("data_dir", None), "--gsm8k-file": ("gsm8k.file", None),
    "--gsm8k-shots": ("gsm8k.shots", 8), "--piqa-dir": ("piqa.dir", None), "--ppl-file": ("ppl.file", None),
    "--ppl-max-length": ("ppl.max_length", 1024), "--ppl-stride": ("ppl.stride", 512),
    "--math500-file": ("math500.file", None), "--mbpp-file": ("mbpp.file", None), "--xsum-file": ("xsum.file", None),
    "--humaneval-file": ("humaneval.file", None), "--humaneval-samples": ("humaneval.samples", 1),
    "--humaneval-temperature": ("humaneval.temperature", 0.8), "--pass-k": ("humaneval.pass_k", (1, 10)),
    "--sandbox-timeout": ("sandbox.timeout", 10.0), "--sandbox-memory-mb": ("sandbox.memory_mb", 1024),
    "--sandbox-workers": ("sandbox.workers", 2), "--allow-unsandboxed-exec": ("allow_unsandboxed_exec", False),
    "--lm-eval-include": ("lm_eval_include", []), "--parens-depths": ("parens.depths", (2, 4, 6, 8)),
    "--arith-kinds": ("arith.kinds", None), "--no-progress": ("progress", True),
}


def _parser():
    subparsers = argparse.ArgumentParser(prog="fastprune").add_subparsers()
    register(subparsers, "eval", "evaluate")
    return subparsers.choices["eval"]


def _get(obj, path):
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def test_every_old_flag_keeps_its_name_and_default():
    parser = _parser()
    flags = {s for a in parser._actions for s in a.option_strings}
    options = options_from_args(options_class(), parser.parse_args(["m"]))
    for flag, (path, default) in OLD_FLAGS.items():
        assert flag in flags, flag
        assert _get(options, path) == default, flag


def test_cli_defaults_equal_yaml_defaults():
    cls = options_class()
    from_cli = options_from_args(cls, _parser().parse_args(["m"]))
    assert from_cli == options_from_mapping(cls, {}, "evaluate", models=["m"])
    assert from_cli == cls(models=["m"])


@pytest.mark.parametrize("cls", [*TASKS.values(), *PARAMETERISED.values()], ids=lambda c: c.name)
def test_each_tasks_flags_come_from_its_options_dataclass(cls):
    parser = _parser()
    flags = {s: a for a in parser._actions for s in a.option_strings}
    for group, options_cls in cls.option_groups.items():
        for f, _, spec in option_fields(options_cls):
            flag = spec.flag or f"--{group}-{f.name}".replace("_", "-")
            assert flag in flags and flags[flag].dest == f"{group}_{f.name}"
            assert flags[flag].help.startswith(spec.help)


def test_a_task_flag_reaches_its_group():
    options = options_from_args(options_class(), _parser().parse_args(
        ["m", "--ppl-max-length", "64", "--pass-k", "1,5", "--sandbox-timeout", "2", "--arith-kinds", "add1,1dc",
         "--arith-shots", "2", "--parens-shots", "1", "--tasks", "ppl,mc:x.jsonl", "--task-limits", "ppl=3"]))
    assert options.ppl.max_length == 64 and options.ppl.stride == 512
    assert options.humaneval.pass_k == (1, 5) and options.sandbox.timeout == 2.0
    assert options.arith.kinds == ("add1", "1dc") and options.arith.shots == 2 and options.parens.shots == 1
    assert options.tasks == ["ppl", "mc:x.jsonl"] and options.task_limits == {"ppl": 3}


@pytest.mark.parametrize("argv", [["--pass-k", "0,1"], ["--parens-depths", "x"], ["--task-limits", "piqa"],
                                  ["--ppl-stride", "half"]])
def test_bad_flag_values_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        _parser().parse_args(["m", *argv])
    assert exc.value.code == 2 and "error:" in capsys.readouterr().err


def test_yaml_section_round_trips_and_is_strict():
    cls = options_class()
    options = options_from_mapping(cls, {"tasks": ["ppl", "humaneval"], "limit": 5, "ppl": {"max_length": 512},
                                         "sandbox": {"timeout": 3}, "task_limits": {"ppl": 2}}, "evaluate",
                                   models=["m"], out=Path("o"))
    assert options.ppl.max_length == 512 and options.sandbox.timeout == 3.0 and options.out == Path("o")
    mapping = options_to_mapping(options)
    for pipeline_owned in ("models", "out", "seed", "dtype", "device", "progress"):
        assert pipeline_owned not in mapping
    assert mapping["ppl"] == {"file": None, "max_length": 512, "stride": 512}
    assert options_from_mapping(cls, mapping, "evaluate", models=["m"], out=Path("o")) == options
    with pytest.raises(FastpruneError, match="unknown config key 'evaluate.ppl.maxlength'"):
        options_from_mapping(cls, {"ppl": {"maxlength": 1}}, "evaluate", models=["m"])
    with pytest.raises(FastpruneError, match="unknown config key 'evaluate.seed'"):
        options_from_mapping(cls, {"seed": 1}, "evaluate", models=["m"])
    with pytest.raises(FastpruneError, match="evaluate.ppl.stride must be an integer"):
        options_from_mapping(cls, {"ppl": {"stride": "x"}}, "evaluate", models=["m"])


@pytest.mark.parametrize(("data", "message"), [
    ({"sandbox": {"timeout": 0}}, "--sandbox-timeout > 0"), ({"max_new_tokens": 0}, "--max-new-tokens"),
    ({"humaneval": {"samples": 0}}, "--humaneval-samples"), ({"parens": {"depths": [0]}}, "--parens-depths"),
    ({"arith": {"kinds": ["div1"]}}, "unknown kind"), ({"humaneval": {"pass_k": [0]}}, "--pass-k"),
])
def test_bad_values_from_yaml_name_the_option(data, message):
    with pytest.raises(FastpruneError, match=message):
        options_from_mapping(options_class(), data, "evaluate", models=["m"])


def test_building_the_cli_loads_no_torch():
    code = "import sys; from fastprune.cli import build_parser; build_parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
