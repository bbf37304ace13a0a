"""Atomic checkpoint writing: refuse/overwrite, sharding, a failing verification leaves nothing."""

from __future__ import annotations

import json
import os

import pytest
from transformers import AutoModelForCausalLM

from fastprune.errors import FastpruneError
from fastprune.models.surgery import prune_model
from fastprune.prune.checkpoint import REPORT_NAME, check_output_dir, write_checkpoint


def test_writes_standard_checkpoint_with_report(tiny, tmp_path):
    loaded = tiny("qwen3", layers=4)
    prune_model(loaded.model, [2])
    out = tmp_path / "ckpt"
    seen = []
    report = write_checkpoint(
        loaded.model, loaded.tokenizer, out, verify=lambda d: seen.append(d) or {"ok": True}, report={"a": 1}
    )
    assert report == {"a": 1, "verification": {"ok": True}}
    assert seen and seen[0] != out  # verification ran on the temp dir, before the rename
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "generation_config.json", "tokenizer.json", REPORT_NAME} <= names
    assert json.loads((out / REPORT_NAME).read_text()) == report
    config = json.loads((out / "config.json").read_text())
    assert config["num_hidden_layers"] == 3
    assert config["fastprune"]["removed_layers"] == [2]
    assert AutoModelForCausalLM.from_pretrained(out).config.num_hidden_layers == 3
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp dirs left
    mask = os.umask(0)
    os.umask(mask)
    assert all((p.stat().st_mode & 0o777) == 0o666 & ~mask for p in out.iterdir())  # readable by others


def test_refuses_existing_unless_overwrite(tiny, tmp_path):
    loaded = tiny("llama", layers=3)
    out = tmp_path / "ckpt"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(FastpruneError, match="already exists"):
        write_checkpoint(loaded.model, loaded.tokenizer, out)
    assert (out / "keep.txt").exists()
    write_checkpoint(loaded.model, loaded.tokenizer, out, overwrite=True)
    assert not (out / "keep.txt").exists()
    assert (out / "config.json").exists()
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(FastpruneError, match="not a directory"):
        check_output_dir(target, overwrite=True)


def test_failed_verification_leaves_nothing(tiny, tmp_path):
    loaded = tiny("llama", layers=3)
    out = tmp_path / "ckpt"

    def fail(_tmp):
        raise FastpruneError("verification failed: on purpose")

    with pytest.raises(FastpruneError, match="on purpose"):
        write_checkpoint(loaded.model, loaded.tokenizer, out, verify=fail)
    assert list(tmp_path.iterdir()) == []


def test_sharding(tiny, tmp_path):
    loaded = tiny("phi3", layers=3)
    out = tmp_path / "ckpt"
    write_checkpoint(loaded.model, None, out, max_shard_size="100KB")
    shards = sorted(p.name for p in out.glob("*.safetensors"))
    assert len(shards) > 1
    assert (out / "model.safetensors.index.json").exists()
    assert AutoModelForCausalLM.from_pretrained(out).config.num_hidden_layers == 3
