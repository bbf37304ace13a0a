"""fastprune.options: one dataclass -> argparse options and a strict YAML section, with the same defaults."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest

from fastprune.errors import FastpruneError
from fastprune.options import (
    add_options,
    default_of,
    option,
    option_fields,
    options_from_args,
    options_from_mapping,
    options_to_mapping,
)


@dataclass
class Inner:
    max_length: int = option(1024, help="window")
    kinds: tuple[str, ...] | None = option(None, help="kinds")





@dataclass
class Outer:
    model: str = option(help="model spec", positional=True, yaml=False)
    data: str = option("wikitext2", help="corpus")
    seq_len: int = option(256, help="tokens per sequence")
    lr: float | None = option(None, help="learning rate")
    pack: bool = option(True, help="pack documents")
    progress: bool = option(True, help="no progress bar", flag="--no-progress", yaml=False)
    shuffle: bool = option(False, help="shuffle")
    mode: Literal["lora", "full"] = option("lora", help="mode")
    sizes: list[int] = option([1, 8], help="batch sizes")
    limits: dict[str, int] = option({}, help="per-task limits")
    out: Path | None = option(None, help="output")
    verify: list[str] = option([], help="engines", append=True)
    ppl: Inner = option(default_factory=Inner, help="ppl options")


def parse(argv):
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_options(parser, Outer)
    return options_from_args(Outer, parser.parse_args(argv))


def test_cli_defaults_equal_the_dataclass_defaults():
    got = parse(["m"])
    assert got == Outer(model="m")
    assert got.sizes == [1, 8] and got.limits == {} and got.ppl == Inner()


def test_every_type_is_read_from_the_command_line():
    got = parse(["m", "--data", "x.txt", "--seq-len", "7", "--lr", "0.5", "--no-pack", "--no-progress",
                 "--shuffle", "--mode", "full", "--sizes", "1,2,3", "--limits", "piqa=600,ppl=24",
                 "--out", "o", "--verify", "vllm", "--verify", "hf", "--ppl-max-length", "512",
                 "--ppl-kinds", "add1,mul1"])
    assert got == Outer(model="m", data="x.txt", seq_len=7, lr=0.5, pack=False, progress=False, shuffle=True,
                        mode="full", sizes=[1, 2, 3], limits={"piqa": 600, "ppl": 24}, out=Path("o"),
                        verify=["vllm", "hf"], ppl=Inner(max_length=512, kinds=("add1", "mul1")))


@pytest.mark.parametrize("argv", [["m", "--seq-len", "x"], ["m", "--mode", "half"], ["m", "--limits", "piqa"],
                                  ["m", "--sizes", ","]])
def test_bad_command_line_values_are_usage_errors(argv, capsys):
    parser = argparse.ArgumentParser(prog="t")
    add_options(parser, Outer)
    with pytest.raises(SystemExit) as exc:
        parser.parse_args(argv)
    assert exc.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_required_positional_is_required():
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_options(parser, Outer)
    with pytest.raises((argparse.ArgumentError, SystemExit)):
        parser.parse_args([])


def test_yaml_section_is_strict_and_typed():
    got = options_from_mapping(Outer, {"seq_len": 64, "lr": 1, "sizes": [2], "ppl": {"max_length": 9}},
                               "calibrate", model="m")
    assert got == Outer(model="m", seq_len=64, lr=1.0, sizes=[2], ppl=Inner(max_length=9))
    assert isinstance(got.lr, float)
    with pytest.raises(FastpruneError, match=r"unknown config key 'calibrate.seqlen'; allowed keys in calibrate"):
        options_from_mapping(Outer, {"seqlen": 1}, "calibrate", model="m")
    with pytest.raises(FastpruneError, match="unknown config key 'calibrate.model'"):
        options_from_mapping(Outer, {"model": "x"}, "calibrate", model="m")  # yaml=False
    with pytest.raises(FastpruneError, match="calibrate.seq_len must be an integer"):
        options_from_mapping(Outer, {"seq_len": "64"}, "calibrate", model="m")
    with pytest.raises(FastpruneError, match="calibrate.ppl.max_length must be an integer"):
        options_from_mapping(Outer, {"ppl": {"max_length": True}}, "calibrate", model="m")
    with pytest.raises(FastpruneError, match="'half' is not one of lora, full"):
        options_from_mapping(Outer, {"mode": "half"}, "calibrate", model="m")
    with pytest.raises(FastpruneError, match="calibrate needs model"):
        options_from_mapping(Outer, {}, "calibrate")


def test_round_trip_through_the_mapping():
    value = Outer(model="m", out=Path("o"), ppl=Inner(kinds=("a",)))
    mapping = options_to_mapping(value)
    assert "model" not in mapping and "progress" not in mapping  # command-line only
    assert mapping["out"] == "o" and mapping["ppl"] == {"max_length": 1024, "kinds": ["a"]}
    assert options_from_mapping(Outer, mapping, model="m") == value


def test_list_defaults_are_not_shared_between_instances():
    a, b = Outer(model="a"), Outer(model="b")
    a.sizes.append(99)
    assert b.sizes == [1, 8]
    assert default_of(dict((f.name, f) for f, _, _ in option_fields(Outer))["sizes"]) == [1, 8]


def test_help_states_the_default(capsys):
    parser = argparse.ArgumentParser(prog="t")
    add_options(parser, Outer)
    text = parser.format_help()
    assert "tokens per sequence (default: 256)" in text
    assert "batch sizes (default: 1,8)" in text


@dataclass
class Engine:
    engine: Literal["fastprune", "vllm"] = option("fastprune", help="engine")
    vllm_timeout: float = option(600.0, help="seconds")


@dataclass
class WithEngine:
    limit: int | None = option(None, help="items")
    engine: Engine = option(default_factory=Engine, help="engine options", flatten=True)


def test_a_flattened_section_sits_at_the_parent_level():
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_options(parser, WithEngine)
    got = options_from_args(WithEngine, parser.parse_args(["--engine", "vllm", "--vllm-timeout", "5"]))
    assert got == WithEngine(engine=Engine(engine="vllm", vllm_timeout=5.0))
    assert options_to_mapping(got) == {"limit": None, "engine": "vllm", "vllm_timeout": 5.0}
    assert options_from_mapping(WithEngine, {"engine": "vllm", "limit": 3}, "evaluate") == WithEngine(
        limit=3, engine=Engine(engine="vllm"))
    with pytest.raises(FastpruneError, match="unknown config key 'evaluate.timeout'.*limit, engine, vllm_timeout"):
        options_from_mapping(WithEngine, {"timeout": 1}, "evaluate")


@dataclass
class Variants:
    ratios: list[float] = option([0.25], help="ratios")


def test_a_section_holds_the_yaml_fields_only_and_builds_the_options_back():
    from fastprune.options import options_from_section, section_of, yaml_fields

    section_cls = section_of(Outer, "OuterSection", base=Variants)
    assert yaml_fields(section_cls) == ["ratios", *yaml_fields(Outer)]  # model and progress are not there
    section = options_from_mapping(section_cls, {"seq_len": 7, "ratios": [0.5]}, "outer")
    assert section.seq_len == 7 and section.ratios == [0.5] and section.sizes == [1, 8]
    got = options_from_section(Outer, section, model="m", progress=False)
    assert got == Outer(model="m", seq_len=7, progress=False)  # ratios is the section's own key


def test_as_namespace_is_what_a_parser_would_give():
    from fastprune.options import as_namespace

    parser = argparse.ArgumentParser()
    add_options(parser, WithEngine)
    args = parser.parse_args(["--engine", "vllm", "--limit", "3"])
    assert vars(as_namespace(options_from_args(WithEngine, args))) == vars(args)


@dataclass
class Exclusive:
    drop: int | None = option(None, help="n", exclusive="how")
    ratio: float | None = option(None, help="r", exclusive="how")
    verify: bool = option(True, flag="--skip-verify", help="skip verification")
    anything: Any = option(None, help="checked by its owner")


def test_exclusive_flags_explicit_off_flags_and_any():
    parser = argparse.ArgumentParser(prog="t")
    add_options(parser, Exclusive)
    assert options_from_args(Exclusive, parser.parse_args(["--skip-verify"])).verify is False
    assert options_from_args(Exclusive, parser.parse_args([])).verify is True
    with pytest.raises(SystemExit):
        parser.parse_args(["--drop", "1", "--ratio", "0.5"])
    assert options_from_mapping(Exclusive, {"anything": 1.5}).anything == 1.5


def test_a_bad_list_item_names_the_list(capsys):
    parser = argparse.ArgumentParser(prog="t")
    add_options(parser, Outer)
    with pytest.raises(SystemExit):
        parser.parse_args(["m", "--sizes", "1,x"])
    assert "argument --sizes: expected a comma-separated list of integers, got '1,x'" in capsys.readouterr().err


def test_options_to_argv_parses_back_to_the_same_options():
    from fastprune.options import options_to_argv

    value = Outer(model="m", data="x.txt", seq_len=7, lr=0.5, pack=False, progress=False, shuffle=True,
                  mode="full", sizes=[1, 2, 3], limits={"piqa": 600}, out=Path("o"), verify=["vllm", "hf"],
                  ppl=Inner(max_length=512, kinds=("add1", "mul1")))
    argv = options_to_argv(value)
    assert argv[0] == "m" and "--no-pack" in argv and "--no-progress" in argv and "--shuffle" in argv
    assert parse(argv) == value
    assert options_to_argv(Outer(model="m")) == ["m"]  # defaults are left out


@dataclass
class WithChoices:
    metric: str | None = option(None, help="metric", choices=("angular", "bi"))


def test_run_time_choices_hold_on_the_command_line_and_in_yaml():
    parser = argparse.ArgumentParser(prog="t")
    add_options(parser, WithChoices)
    assert options_from_args(WithChoices, parser.parse_args(["--metric", "bi"])).metric == "bi"
    with pytest.raises(SystemExit):
        parser.parse_args(["--metric", "cos"])
    assert options_from_mapping(WithChoices, {"metric": "angular"}, "prune").metric == "angular"
    with pytest.raises(FastpruneError, match=r"prune.metric: 'cos' is not one of angular, bi"):
        options_from_mapping(WithChoices, {"metric": "cos"}, "prune")
