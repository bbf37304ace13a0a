import pytest
from torch import nn

from fastprune.errors import FastpruneError
from fastprune.models import TINY_FAMILIES, adapter_for, tiny_model


@pytest.mark.parametrize("family", list(TINY_FAMILIES))
def test_adapter_finds_layers_norm_and_attention(family):
    model = tiny_model(family, num_layers=4)
    adapter = adapter_for(model)
    assert adapter.num_layers == 4
    assert adapter.layers is model.model.layers
    assert adapter.final_norm is model.model.norm
    attn = adapter.attention_modules()
    assert [m.layer_idx for m in attn] == [0, 1, 2, 3]
    per_layer = adapter.per_layer_config_fields()
    for field in per_layer:
        assert len(getattr(adapter.text_config, field)) == 4
    if family in ("qwen2", "qwen3", "gemma2", "gemma3"):
        assert "layer_types" in per_layer


def test_tied_embeddings_detected():
    assert adapter_for(tiny_model("llama")).tied_embeddings()
    assert not adapter_for(tiny_model("qwen3")).tied_embeddings()


def test_token_id_lists_are_not_per_layer():
    model = tiny_model("llama", num_layers=3)
    model.config.eos_token_id = [1, 2, 3]
    assert "eos_token_id" not in adapter_for(model).per_layer_config_fields()


def test_unknown_architecture_is_a_clear_error():
    class NotADecoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Linear(2, 2)

    with pytest.raises(FastpruneError, match="NotADecoder has no decoder-layer list"):
        adapter_for(NotADecoder())
