"""importance.json loading and the checks that it belongs to the model being pruned."""

from __future__ import annotations

import json

import pytest

from fastprune.errors import FastpruneError
from fastprune.importance.reader import check_matches_model, load_importance
from fastprune.utils_io import sha256_file


def test_load_by_file_or_directory(tiny, importance_file):
    loaded = tiny("llama", layers=5)
    path = importance_file(loaded)
    imp = load_importance(path)
    assert imp.num_layers == 5
    assert imp.sha256 == sha256_file(path)
    assert load_importance(path.parent).path == path
    assert len(imp.metric("angular")) == 6
    assert len(imp.metric("bi")) == 5
    check_matches_model(imp, loaded.model)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(FastpruneError, match="not found.*fastprune calibrate"):
        load_importance(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(FastpruneError, match="not valid JSON"):
        load_importance(bad)
    bad.write_text(json.dumps({"angular": []}))
    with pytest.raises(FastpruneError, match="num_layers"):
        load_importance(bad)


def test_missing_or_misshapen_metric(tiny, importance_file):
    loaded = tiny("llama", layers=4)
    imp = load_importance(importance_file(loaded, drop=("bi",), angular=[[0.0] * 5] * 4))
    with pytest.raises(FastpruneError, match="no 'bi' metric.*has: angular"):
        imp.metric("bi")
    with pytest.raises(FastpruneError, match="5x5 matrix"):
        imp.metric("angular")


def test_other_model_is_refused(tiny, importance_file):
    a = tiny("llama", layers=4, seed=0)
    same_shape_other_weights = tiny("llama", layers=4, seed=1)
    other_depth = tiny("llama", layers=5)
    imp = load_importance(importance_file(a))
    with pytest.raises(FastpruneError, match="another model.*weights_sha256"):
        check_matches_model(imp, same_shape_other_weights.model)
    with pytest.raises(FastpruneError, match="4-layer model.*5 layers"):
        check_matches_model(imp, other_depth.model)


def test_partial_fingerprint_uses_what_the_file_has(tiny, importance_file):
    loaded = tiny("qwen2", layers=4)
    path = importance_file(loaded, fingerprint={"architecture": "Qwen2ForCausalLM", "hidden_size": 64})
    check_matches_model(load_importance(path), loaded.model)
    path = importance_file(loaded, name="x.json", fingerprint={"architecture": "LlamaForCausalLM"})
    with pytest.raises(FastpruneError, match="architecture"):
        check_matches_model(load_importance(path), loaded.model)


def test_every_schema_shape_is_checked(tiny, importance_file):
    loaded = tiny("llama", layers=4)
    good = {"taylor": [1.0, 2.0, 3.0, 4.0], "loss_base": 2.5, "loss_delta": [0.1, 0.2, 0.3],
            "settings": {"block": 2}, "norms": [1.0] * 5}
    imp = load_importance(importance_file(loaded, **good))
    assert imp.window == 2 and imp.metric("loss_delta") == [0.1, 0.2, 0.3]  # 4 - 2 + 1 blocks
    assert imp.metric("loss_base") == 2.5 and len(imp.metric("norms")) == 5
    bad = {"taylor": [1.0, 2.0], "loss_base": [2.5], "loss_delta": [0.1] * 4, "norms": [1.0] * 4}
    imp = load_importance(importance_file(loaded, name="bad.json", settings={"block": 2}, **bad))
    for name, message in [("taylor", "list of 4 numbers"), ("loss_base", "a number"),
                          ("loss_delta", "list of 3 numbers for 4 layers measured on 2-layer blocks"),
                          ("norms", "list of 5 numbers")]:
        with pytest.raises(FastpruneError, match=message):
            imp.metric(name)


def test_a_missing_metric_names_the_calibrate_flag(tiny, importance_file):
    imp = load_importance(importance_file(tiny("llama", layers=4)))
    with pytest.raises(FastpruneError, match="no 'taylor' metric.*'fastprune calibrate --taylor'"):
        imp.metric("taylor")
    with pytest.raises(FastpruneError, match="no 'loss_delta' metric.*calibrate --loss-ablation"):
        imp.metric("loss_delta")
    with pytest.raises(FastpruneError, match="unknown metric 'nope'.*angular"):
        imp.metric("nope")
    assert set(imp.present()) == {"cosine", "angular", "bi", "norms"}
