import pytest
import torch

from fastprune.errors import FastpruneError
from fastprune.train.modes import check_qlora_available, merged, prepare


def _train_steps(model, steps=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2, weight_decay=1e-4)
    for _ in range(steps):
        ids = torch.randint(0, 256, (2, 12), generator=g)
        model(input_ids=ids, labels=ids).loss.backward()
        opt.step()
        opt.zero_grad()


def _snapshot(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def test_partial_trains_only_last_k_layers_and_untied_head(tiny):
    loaded = tiny("llama", layers=4)  # tied embeddings
    model = loaded.model
    setup = prepare(model, loaded.adapter.layers, "partial", last_k=2)
    assert any("untied" in n for n in setup.notes)
    assert model.lm_head.weight is not model.model.embed_tokens.weight
    assert model.config.tie_word_embeddings is False
    assert setup.first_trained_layer == 2
    before = _snapshot(model)
    _train_steps(model)
    for name, p in model.named_parameters():
        trained = name.startswith(("model.layers.2.", "model.layers.3.", "lm_head."))
        assert p.requires_grad == trained, name
        changed = not torch.equal(p, before[name])
        # Norm weights start at 1 and every weight gets a gradient: trained ones must move, frozen ones not.
        assert changed == trained, name
    assert setup.trainable < setup.total


@pytest.mark.parametrize("k", [0, 5])
def test_partial_last_k_out_of_range(tiny, k):
    loaded = tiny("qwen3", layers=4)
    with pytest.raises(FastpruneError, match=r"--last-k .* out of range.*1\.\.4"):
        prepare(loaded.model, loaded.adapter.layers, "partial", last_k=k)


def test_full_trains_everything(tiny):
    loaded = tiny("qwen3", layers=2)
    setup = prepare(loaded.model, loaded.adapter.layers, "full")
    assert setup.trainable == setup.total and setup.first_trained_layer == 0


def test_lora_targets_all_linear_projections_and_merges_exactly(tiny):
    loaded = tiny("qwen3", layers=2)
    setup = prepare(loaded.model, loaded.adapter.layers, "lora", lora_r=4, lora_alpha=8, lora_dropout=0.0)
    model = setup.model
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    wrapped = {n.split(".lora_A")[0].rsplit(".", 1)[-1] for n in trainable if ".lora_A" in n}
    assert wrapped == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    assert setup.layers is loaded.adapter.layers
    _train_steps(model)  # lora_B starts at zero: train so the adapters actually change the output
    model.eval()
    ids = torch.randint(0, 256, (2, 16), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        adapter_logits = model(input_ids=ids).logits
        plain = merged(setup)
        merged_logits = plain(input_ids=ids).logits
    assert type(plain).__name__ == "Qwen3ForCausalLM"
    assert not any("lora" in n for n, _ in plain.named_parameters())
    torch.testing.assert_close(merged_logits, adapter_logits, rtol=1e-4, atol=1e-5)


def test_qlora_without_bitsandbytes_is_a_clear_error(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "bitsandbytes" else real(name, *a))
    with pytest.raises(FastpruneError, match="--mode qlora needs the bitsandbytes package.*--mode lora"):
        check_qlora_available()


def test_qlora_under_several_processes_is_a_clear_error():
    pytest.importorskip("bitsandbytes")
    with pytest.raises(FastpruneError, match="one process.*--mode lora under torchrun"):
        check_qlora_available(world_size=2)


def test_unknown_mode(tiny):
    loaded = tiny("llama", layers=2)
    with pytest.raises(FastpruneError, match="unknown --mode"):
        prepare(loaded.model, loaded.adapter.layers, "kd-ish")
