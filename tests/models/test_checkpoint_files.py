"""A broken checkpoint dir is one FastpruneError naming the broken file, before and while loading."""

from __future__ import annotations

import pytest

from fastprune.errors import FastpruneError
from fastprune.models import load_model
from fastprune.models.checkpoint_files import check_checkpoint, check_model_spec
from tests.models.corrupt_checkpoints import CORRUPTIONS, make_corrupt, save_tiny


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    return save_tiny(tmp_path_factory.mktemp("good") / "ckpt")


def test_good_checkpoint_passes_every_check(good):
    files = check_checkpoint(good, compare_shapes=True)
    assert files.config["model_type"] == "llama"
    assert files.weights == [good / "model.safetensors"]
    assert files.where("model.embed_tokens.weight") == str(good / "model.safetensors")
    check_model_spec(str(good))
    assert load_model(str(good)).adapter.num_layers == 2


def test_sharded_checkpoint_maps_each_tensor_to_its_shard(tmp_path):
    path = save_tiny(tmp_path / "sharded", shard_size="40KB")
    files = check_checkpoint(path, compare_shapes=True)
    assert len(files.weights) > 1
    assert {files.tensor_file[name] for name in files.tensor_file} == set(files.weights)


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_corrupt_checkpoint_error_names_the_file(good, tmp_path, kind):
    bad = make_corrupt(good, tmp_path / "bad", kind)
    named = str(bad / CORRUPTIONS[kind]) if CORRUPTIONS[kind] else str(bad)
    with pytest.raises(FastpruneError) as load_exc:
        load_model(str(bad))
    assert named in str(load_exc.value)
    assert "\n" not in str(load_exc.value)
    with pytest.raises(FastpruneError) as spec_exc:
        check_model_spec(str(bad))
    assert named in str(spec_exc.value)


def test_shape_mismatch_says_which_tensor_and_shapes(good, tmp_path):
    bad = make_corrupt(good, tmp_path / "bad", "shape_mismatch")
    with pytest.raises(FastpruneError, match=r"mlp\.\w+_proj\.weight has shape \[\d+, \d+\] but .*config\.json "
                                             r"implies \[\d+, \d+\]"):
        load_model(str(bad))


def test_missing_tensor_is_refused_not_randomly_initialised(good, tmp_path):
    bad = make_corrupt(good, tmp_path / "bad", "missing_tensor")
    with pytest.raises(FastpruneError, match=r"lacks 1 tensor\(s\) .*layers\.1\.mlp\.down_proj\.weight"):
        load_model(str(bad))


@pytest.mark.parametrize("family", ["llama", "qwen2", "qwen3", "mistral", "gemma2", "gemma3", "phi3"])
def test_every_family_saved_by_transformers_passes(tmp_path, family):
    path = save_tiny(tmp_path / family, family=family)
    check_model_spec(str(path))
    assert load_model(str(path)).adapter.num_layers == 2


@pytest.mark.embedded
def test_embedded_cache_checkpoint_passes():
    from fastprune.models import ensure_embedded_checkpoint

    files = check_checkpoint(ensure_embedded_checkpoint(), compare_shapes=True)
    assert files.config["num_hidden_layers"] == 30
