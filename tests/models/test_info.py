import torch

from fastprune.models import kv_bytes_per_token, model_info


def test_info_accounts_for_every_parameter(tiny):
    loaded = tiny("qwen3", layers=5)
    info = model_info(loaded)
    params = info["parameters"]
    assert info["num_layers"] == 5 and len(params["per_layer"]) == 5
    total = sum(p.numel() for p in loaded.model.parameters())
    assert params["total"] == total
    assert info["bytes"]["total"] == total * 4
    assert info["bytes"]["rest"] == info["bytes"]["total"] - sum(info["bytes"]["per_layer"])
    assert not params["lm_head_tied"]


def test_tied_head_is_counted_once(tiny):
    loaded = tiny("llama", layers=2)
    info = model_info(loaded)
    assert info["parameters"]["lm_head_tied"]
    assert info["parameters"]["total"] == sum(p.numel() for p in loaded.model.parameters())


def test_kv_bytes_per_token(tiny):
    cfg = tiny("llama", layers=4).model.config
    # 2 (k and v) x 4 layers x 2 kv heads x 16 head dim x 2 bytes
    assert kv_bytes_per_token(cfg, torch.bfloat16) == 2 * 4 * 2 * 16 * 2
    assert kv_bytes_per_token(cfg, torch.float32, num_layers=3) == 2 * 3 * 2 * 16 * 4


def test_bytes_read_per_step_excludes_untied_input_embeddings(tiny):
    untied = model_info(tiny("qwen3", layers=2))["bytes"]
    assert untied["read_per_step"] == untied["total"] - untied["embeddings"]
    tied = model_info(tiny("llama", layers=2))["bytes"]
    assert tied["read_per_step"] == tied["total"]
