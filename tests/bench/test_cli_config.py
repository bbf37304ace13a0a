"""The bench options `fastprune run` passes (pipeline/config.py) and the CLI's own defaults agree."""

import argparse

from fastprune.bench.cli import register
from fastprune.bench.options import BenchOptions
from fastprune.options import options_from_args
from fastprune.pipeline.config import BenchSection, RunConfig
from fastprune.pipeline.steps import build_steps


def _cli_defaults():
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(), "bench", "bench")
    return options_from_args(BenchOptions, parser.parse_args(["bench", "m", "--out", "o"]))


def test_config_defaults_match_the_cli():
    cli, cfg = _cli_defaults(), BenchSection()
    assert cli.hf_variants == cfg.hf_variants
    assert cli.max_interval_width == cfg.max_interval_width and cli.max_cv == cfg.max_cv
    assert cli.repeats == cfg.repeats and cli.rounds == cfg.rounds and cli.new_tokens == cfg.new_tokens


def test_run_passes_the_noise_thresholds_and_hf_variants(tmp_path):
    config = RunConfig(stages=["bench"])
    config.bench.hf_variants = ["static", "compile"]
    config.bench.max_cv = 0.2
    step = next(s for s in build_steps(config, tmp_path) if s.stage == "bench")
    options = step.options
    assert isinstance(options, BenchOptions)
    assert options.hf_variants == ["static", "compile"]
    assert options.max_cv == 0.2
    assert options.max_interval_width == 0.1
