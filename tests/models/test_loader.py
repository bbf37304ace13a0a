import json

import pytest
import torch

from fastprune.errors import FastpruneError
from fastprune.models import load_model, model_info


def test_tiny_model_loads_with_tokenizer(tiny):
    loaded = tiny("gemma3", layers=4)
    assert loaded.adapter.num_layers == 4
    ids = loaded.tokenizer("hello")["input_ids"]
    assert loaded.tokenizer.decode(ids) == "hello"
    out = loaded.model(torch.tensor([ids]))
    assert out.logits.shape == (1, len(ids), loaded.model.config.vocab_size)


def test_same_seed_same_weights():
    a = load_model("tiny:llama:2", seed=3).model.state_dict()
    b = load_model("tiny:llama:2", seed=3).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_random_production_config_on_meta_device():
    loaded = load_model("random:llama-3.1-8b", dtype="bfloat16", device="meta")
    info = model_info(loaded)
    assert info["num_layers"] == 32
    assert 8.0e9 < info["parameters"]["total"] < 8.1e9
    assert info["bytes"]["per_layer"][0] == info["parameters"]["per_layer"][0] * 2


def test_random_from_config_file(tmp_path):
    cfg = {"model_type": "llama", "hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 2,
           "num_key_value_heads": 1, "num_hidden_layers": 3, "vocab_size": 300}
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(cfg))
    loaded = load_model(f"random:{path}")
    assert loaded.adapter.num_layers == 3


def test_local_checkpoint_roundtrip(tmp_path, tiny):
    loaded = tiny("qwen2", layers=3)
    loaded.model.save_pretrained(tmp_path)
    loaded.tokenizer.save_pretrained(tmp_path)
    again = load_model(str(tmp_path))
    ids = torch.tensor([[1, 2, 3, 4]])
    torch.testing.assert_close(again.model(ids).logits, loaded.model(ids).logits)
    assert again.tokenizer is not None


def test_bad_dtype_and_device():
    with pytest.raises(FastpruneError, match="unknown dtype"):
        load_model("tiny:llama:2", dtype="float8")
    if not torch.cuda.is_available():
        with pytest.raises(FastpruneError, match="CUDA is not available"):
            load_model("tiny:llama:2", device="cuda")


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(FastpruneError, match=r"config\.json is not valid JSON"):
        load_model(str(tmp_path))


def test_unknown_architecture_in_random_config(tmp_path):
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps({"model_type": "no-such-arch"}))
    with pytest.raises(FastpruneError, match="unknown architecture"):
        load_model(f"random:{path}")


def test_unwrap_model_takes_a_loaded_model_apart_but_never_an_hf_model(tiny):
    from fastprune.models import unwrap_model

    loaded = tiny("llama", layers=1)
    assert unwrap_model(loaded) is loaded.model
    # a CausalLM's own .model is its base model: unwrapping it would lose the LM head
    assert unwrap_model(loaded.model) is loaded.model
    with pytest.raises(FastpruneError, match="prune_model needs a torch model or LoadedModel, got str"):
        unwrap_model("tiny:llama", "prune_model")


def test_checkpoint_tokenizer_is_none_when_none_was_saved(tmp_path):
    from fastprune.models import byte_tokenizer
    from fastprune.models.loader import checkpoint_tokenizer

    assert checkpoint_tokenizer(tmp_path) is None
    byte_tokenizer().save_pretrained(tmp_path)
    assert checkpoint_tokenizer(tmp_path)("hi")["input_ids"] == byte_tokenizer()("hi")["input_ids"]
