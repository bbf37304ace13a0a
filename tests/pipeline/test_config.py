from pathlib import Path

import pytest

from fastprune.errors import FastpruneError
from fastprune.pipeline.config import apply_overrides, config_from_dict, config_to_dict, load_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.parametrize("name", ["demo.yaml", "paper-llama3.1-8b.yaml", "study-smollm2.yaml"])
def test_shipped_configs_load(name):
    config = load_config(CONFIGS / name)
    assert config.prune.ratios and config.model


def test_round_trip():
    config = config_from_dict({"model": "tiny:llama:4", "prune": {"ratios": [0.5]}})
    assert config_from_dict(config_to_dict(config)) == config


def test_unknown_key_names_it_and_lists_allowed():
    with pytest.raises(FastpruneError, match=r"unknown config key 'prune.ratio'.*allowed keys in prune: strategy"):
        config_from_dict({"prune": {"ratio": 0.2}})
    with pytest.raises(FastpruneError, match="unknown config key 'modle'"):
        config_from_dict({"modle": "x"})


def test_overrides_parse_yaml_values():
    data = apply_overrides({}, ["prune.ratios=[0.1, 0.3]", "evaluate.limit=5", "model=tiny:qwen3:4"])
    config = config_from_dict(data)
    assert config.prune.ratios == [0.1, 0.3] and config.evaluate.limit == 5 and config.model == "tiny:qwen3:4"
    with pytest.raises(FastpruneError, match="key=value"):
        apply_overrides({}, ["prune.ratios"])


def test_bad_values():
    with pytest.raises(FastpruneError, match="unknown stage"):
        config_from_dict({"stages": ["calibrate", "distill"]})
    with pytest.raises(FastpruneError, match="fractions in"):
        config_from_dict({"prune": {"ratios": [1.5]}})
    with pytest.raises(FastpruneError, match="needs the calibrate stage"):
        config_from_dict({"stages": ["prune"], "prune": {"strategy": "block"}})


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(FastpruneError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed")
    with pytest.raises(FastpruneError, match="not valid YAML"):
        load_config(bad)


def test_allow_unsandboxed_exec_reaches_the_eval_step(tmp_path):
    from fastprune.pipeline.steps import build_steps, step_command

    def eval_step(value):
        config = config_from_dict({"model": "tiny:llama:2", "stages": ["evaluate"],
                                   "evaluate": {"allow_unsandboxed_exec": value}})
        return [s for s in build_steps(config, tmp_path) if s.stage == "evaluate"][0]

    assert eval_step(True).options.allow_unsandboxed_exec
    assert "--allow-unsandboxed-exec" in step_command(eval_step(True))
    assert not eval_step(False).options.allow_unsandboxed_exec
    assert "--allow-unsandboxed-exec" not in step_command(eval_step(False))


def test_several_strategies_prune_train_and_evaluate_each_variant(tmp_path):
    from fastprune.pipeline.steps import build_steps

    config = config_from_dict({"prune": {"strategy": ["block", "reverse"], "ratios": [0.1, 0.2]}})
    steps = build_steps(config, tmp_path)
    names = [s.name for s in steps]
    for tag in ("block-r10", "block-r20", "reverse-r10", "reverse-r20"):
        assert f"prune/{tag}" in names and f"train/{tag}" in names and f"evaluate/pruned-{tag}" in names
        assert f"evaluate/recovered-{tag}" in names
    reverse = next(s for s in steps if s.name == "prune/reverse-r20")
    assert reverse.options.strategy == "reverse" and reverse.options.importance is None
    bench = next(s for s in steps if s.name == "bench")
    assert sum(str(tmp_path / "prune") in a for a in bench.options.models) == 4
    # one strategy keeps the layout of earlier runs
    assert "prune/r25" in [s.name for s in build_steps(config_from_dict({}), tmp_path)]
    with pytest.raises(FastpruneError, match="distinct names"):
        config_from_dict({"prune": {"strategy": ["block", "block"]}})
    with pytest.raises(FastpruneError, match="'bi' needs the calibrate stage"):
        config_from_dict({"stages": ["prune"], "prune": {"strategy": ["reverse", "bi"]}})


def test_task_limits_reach_the_eval_command(tmp_path):
    from fastprune.pipeline.steps import build_steps, step_command

    config = config_from_dict({"evaluate": {"tasks": ["piqa", "ppl"], "limit": 100,
                                            "task_limits": {"ppl": 8}}})
    step = next(s for s in build_steps(config, tmp_path) if s.name == "evaluate/base")
    assert step.options.task_limits == {"ppl": 8} and step.options.limit == 100
    argv = step_command(step)
    assert argv[argv.index("--task-limits") + 1] == "ppl=8"
    with pytest.raises(FastpruneError, match="not in evaluate.tasks"):
        config_from_dict({"evaluate": {"tasks": ["piqa"], "task_limits": {"ppl": 8}}})
    with pytest.raises(FastpruneError, match="item counts >= 1"):
        config_from_dict({"evaluate": {"tasks": ["piqa"], "task_limits": {"piqa": 0}}})


def test_threads_key_accepts_auto_or_a_positive_count():
    assert config_from_dict({}).threads is None
    assert config_from_dict({"threads": 2}).threads == 2
    assert config_from_dict({"threads": "auto"}).threads == "auto"
    for bad in (0, -1, "many", 1.5):
        with pytest.raises(FastpruneError, match="config key 'threads' must be a positive integer"):
            config_from_dict({"threads": bad})


def test_run_applies_the_configs_threads_unless_the_command_line_sets_them(tmp_path, monkeypatch):
    import torch

    from fastprune.cli import main

    seen = []
    monkeypatch.setattr("fastprune.pipeline.runner.run_study",
                        lambda config, out, from_stage=None: seen.append(torch.get_num_threads()))
    config = tmp_path / "c.yaml"
    config.write_text("model: tiny:llama:2\nthreads: 2\n")
    before = torch.get_num_threads()
    try:
        assert main(["run", str(config), "--out", str(tmp_path / "r")]) == 0
        assert main(["--threads", "1", "run", str(config), "--out", str(tmp_path / "r")]) == 0
        assert main(["run", str(config), "--out", str(tmp_path / "r"), "--set", "threads=1"]) == 0
    finally:
        torch.set_num_threads(before)
    assert seen == [2, 1, 1]
