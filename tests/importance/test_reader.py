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
