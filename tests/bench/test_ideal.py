import pytest
import torch

from fastprune.bench.ideal import byte_ideal, byte_ideal_from_layers, ideals, layer_ideal
from fastprune.models import model_info
from fastprune.models.surgery import prune_model


def test_layer_and_byte_ideals_agree_with_the_formula():
    assert layer_ideal(32, 24) == pytest.approx(32 / 24)
    # S* = (L*b_layer + b_rest) / ((L-n)*b_layer + b_rest)
    assert byte_ideal_from_layers(10.0, 50.0, 30, 24) == pytest.approx((300 + 50) / (240 + 50))
    assert byte_ideal(350, 290) == pytest.approx(350 / 290)


def test_ideals_of_a_pruned_tiny_model(tiny):
    loaded = tiny("llama", layers=6)
    base = model_info(loaded)
    prune_model(loaded, [3, 4])
    info = model_info(loaded)
    out = ideals(base, info, loaded.model.config, torch.float32)
    b_layer = base["bytes"]["per_layer"][0]
    b_rest = base["bytes"]["read_per_step"] - 6 * b_layer
    assert out["layers_removed"] == 2
    assert out["ideal_layers"] == pytest.approx(1.5)
    assert out["ideal_bytes"] == pytest.approx(byte_ideal_from_layers(b_layer, b_rest, 6, 4))
    assert 1.0 < out["ideal_bytes"] < out["ideal_layers"]
    # 2 (k, v) x 2 layers x 2 kv heads x 16 head dim x 4 bytes
    assert out["kv_bytes_per_token_saved"] == 2 * 2 * 2 * 16 * 4
