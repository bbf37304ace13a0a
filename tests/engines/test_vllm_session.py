"""What a stage needs to serve a model: checkpoint dirs, context limits, the shared options."""

from __future__ import annotations

import argparse
import json

import pytest

from fastprune.engines.vllm_session import (
    add_engine_arguments,
    context_limit,
    load_for_serving,
    server_checkpoint,
    server_options,
)
from fastprune.errors import FastpruneError


def test_in_memory_models_are_saved_once_checkpoints_are_used_in_place(tiny, tmp_path):
    loaded = tiny("qwen3", layers=2)
    path = server_checkpoint(loaded, tmp_path)
    assert path.endswith("vllm-checkpoint-tiny_qwen3_2") and json.loads(
        (tmp_path / "vllm-checkpoint-tiny_qwen3_2" / "config.json").read_text())["num_hidden_layers"] == 2
    assert (tmp_path / "vllm-checkpoint-tiny_qwen3_2" / "tokenizer_config.json").exists()
    mtime = (tmp_path / "vllm-checkpoint-tiny_qwen3_2" / "config.json").stat().st_mtime
    assert server_checkpoint(loaded, tmp_path) == path
    assert (tmp_path / "vllm-checkpoint-tiny_qwen3_2" / "config.json").stat().st_mtime == mtime
    assert context_limit(path) == 512 and context_limit(None) is None
    served = load_for_serving(path, tmp_path / "elsewhere")  # a checkpoint dir: tokenizer only, no copy
    assert served.checkpoint == path and served.tokenizer is not None and not (tmp_path / "elsewhere").exists()
    unsaved = load_for_serving("tiny:llama:1", tmp_path / "none", save=False)
    assert unsaved.checkpoint is None and not (tmp_path / "none").exists()


def test_shared_options_and_defaults():
    parser = argparse.ArgumentParser()
    add_engine_arguments(parser, "x")
    args = parser.parse_args(["--engine", "vllm", "--vllm-arg=--seed=3", "--vllm-arg=--swap-space=0",
                              "--tensor-parallel-size", "2", "--vllm-compile"])
    options = server_options(args, 300)
    assert options.extra_args == ("--seed=3", "--swap-space=0") and options.tensor_parallel_size == 2
    assert options.max_model_len == 300 and not options.enforce_eager and options.kv_cache_gib == 1
    assert server_options(parser.parse_args([]), 300).enforce_eager
    with pytest.raises(FastpruneError, match="--tensor-parallel-size"):
        server_options(parser.parse_args(["--tensor-parallel-size", "0"]), 300)
