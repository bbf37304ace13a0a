import json
import os

import pytest
import torch

from fastprune.calibrate.state import check_same_run, load_state, save_state, state_dir
from fastprune.errors import FastpruneError

FP = {"version": 1, "architecture": "LlamaForCausalLM", "num_layers": 2, "weights_sha256": "ab" * 8}
SETTINGS = {"seq_len": 16, "batch_size": 2, "data": {"location": "x.txt"}}


def test_save_load_round_trip_is_exact(tmp_path):
    sums = {
        "cos_sum": torch.rand(3, 3, dtype=torch.float64),
        "tokens": torch.tensor(12.0, dtype=torch.float64),
    }
    save_state(tmp_path, sums, {"position": {"docs": 4}, "fingerprint": FP})
    loaded, meta = load_state(tmp_path)
    assert torch.equal(loaded["cos_sum"], sums["cos_sum"]) and meta["position"] == {"docs": 4}
    # A second save replaces the first and leaves no temp directories behind.
    save_state(tmp_path, {k: v + 1 for k, v in sums.items()}, {"position": {"docs": 5}})
    assert load_state(tmp_path)[1]["position"] == {"docs": 5}
    assert sorted(os.listdir(tmp_path)) == ["state"]
    assert sorted(os.listdir(state_dir(tmp_path))) == ["state.json", "sums.safetensors"]


def test_missing_and_broken_state(tmp_path):
    assert load_state(tmp_path) is None
    state_dir(tmp_path).mkdir()
    (state_dir(tmp_path) / "state.json").write_text(json.dumps({"version": 99}))
    with pytest.raises(FastpruneError, match="unreadable"):
        load_state(tmp_path)
    save_state(tmp_path, {"t": torch.zeros(1, dtype=torch.float64)}, {})
    (state_dir(tmp_path) / "state.json").write_text(json.dumps({"version": 99}))
    with pytest.raises(FastpruneError, match="version 99"):
        load_state(tmp_path)


def test_check_same_run(tmp_path):
    recorded = {"model": "tiny:llama:2", "fingerprint": FP, "settings": SETTINGS}
    check_same_run(tmp_path, recorded, dict(FP), dict(SETTINGS), "x")
    with pytest.raises(FastpruneError, match="another model.*weights_sha256.*--overwrite"):
        check_same_run(tmp_path, recorded, {**FP, "weights_sha256": "cd" * 8}, SETTINGS, "x")
    with pytest.raises(FastpruneError, match="other settings.*batch_size: 2 -> 4"):
        check_same_run(tmp_path, recorded, FP, {**SETTINGS, "batch_size": 4}, "x")
