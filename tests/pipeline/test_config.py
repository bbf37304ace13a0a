from pathlib import Path

import pytest

from fastprune.errors import FastpruneError
from fastprune.pipeline.config import apply_overrides, config_from_dict, config_to_dict, load_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.parametrize("name", ["demo.yaml", "paper-llama3.1-8b.yaml"])
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
    from fastprune.pipeline.steps import build_steps

    def eval_args(value):
        config = config_from_dict({"model": "tiny:llama:2", "stages": ["evaluate"],
                                   "evaluate": {"allow_unsandboxed_exec": value}})
        return [s.argv for s in build_steps(config, tmp_path) if s.stage == "evaluate"][0]

    assert "--allow-unsandboxed-exec" in eval_args(True)
    assert "--allow-unsandboxed-exec" not in eval_args(False)
