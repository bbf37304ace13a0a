"""LayerRunner against full HF forwards: identity, skipped layers == deleted layers, padding."""

from __future__ import annotations

import copy

import pytest
import torch

from fastprune.errors import FastpruneError
from fastprune.models import TINY_FAMILIES
from fastprune.models.layer_runner import LayerRunner

FAMILIES = list(TINY_FAMILIES)


def _batch(seed: int = 0, batch: int = 2, seq: int = 40, vocab: int = 256):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab, (batch, seq), generator=g)
    mask = torch.ones_like(ids)
    mask[1, seq - 9 :] = 0  # right padding on the second row
    ids[1, seq - 9 :] = 259
    return ids, mask


def _delete_layers(model, drop: set[int]):
    """Independent oracle: copy the model and delete layers by hand (ModuleList + config + layer_idx)."""
    pruned = copy.deepcopy(model)
    keep = [i for i in range(pruned.config.num_hidden_layers) if i not in drop]
    pruned.model.layers = torch.nn.ModuleList(pruned.model.layers[i] for i in keep)
    for new, layer in enumerate(pruned.model.layers):
        for module in layer.modules():
            if hasattr(module, "layer_idx"):
                module.layer_idx = new
    pruned.config.num_hidden_layers = len(keep)
    if getattr(pruned.config, "layer_types", None):
        pruned.config.layer_types = [pruned.config.layer_types[i] for i in keep]
    return pruned


@pytest.mark.parametrize("family", FAMILIES)
def test_full_run_matches_model_logits(tiny, family):
    loaded = tiny(family, layers=6)
    ids, mask = _batch()
    runner = LayerRunner(loaded)
    trace = runner.capture(ids, mask)
    assert len(trace.layer_inputs) == 6
    assert trace.layer_inputs[0].shape == (2, 40, 64)
    h = runner.run_layers(trace, 0, trace.layer_inputs[0])
    torch.testing.assert_close(h, trace.final, rtol=0, atol=0)
    with torch.no_grad():
        expected = loaded.model(input_ids=ids, attention_mask=mask).logits
    torch.testing.assert_close(runner.logits(h), expected, rtol=1e-5, atol=1e-5)
    # Starting mid-way from a captured input reproduces the same output.
    h3 = runner.run_layers(trace, 3, trace.layer_inputs[3])
    torch.testing.assert_close(h3, trace.final, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("family", FAMILIES)
def test_skip_equals_deleted_layers(tiny, family):
    loaded = tiny(family, layers=6)
    ids, mask = _batch(seed=1)
    runner = LayerRunner(loaded)
    trace = runner.capture(ids, mask)
    h = runner.run_layers(trace, 2, trace.layer_inputs[2], skip=frozenset({2, 3}))
    pruned = _delete_layers(loaded.model, {2, 3})
    with torch.no_grad():
        expected = pruned(input_ids=ids, attention_mask=mask).logits
        full = loaded.model(input_ids=ids, attention_mask=mask).logits
    got = runner.logits(h)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    # The skip must change something, or the comparison above proves nothing.
    assert (got - full).abs().max() > 1e-3


def test_inputs_with_skip(tiny):
    loaded = tiny("phi3", layers=6)
    ids, mask = _batch(seed=4)
    runner = LayerRunner(loaded)
    trace = runner.capture(ids, mask)
    assert runner.inputs_with_skip(trace) == trace.layer_inputs
    inputs = runner.inputs_with_skip(trace, frozenset({1, 3}))
    assert len(inputs) == 6
    for layer in (0, 1):
        assert inputs[layer] is trace.layer_inputs[layer]
    for layer in (2, 4, 5):
        expected = runner.run_layers(trace, 0, trace.layer_inputs[0], skip={1, 3}, stop=layer)
        torch.testing.assert_close(inputs[layer], expected, rtol=0, atol=0)
    # Continuing from the recorded input of layer 4 gives the pruned model's output.
    end = runner.run_layers(trace, 4, inputs[4], skip={1, 3})
    torch.testing.assert_close(end, runner.run_layers(trace, 0, trace.layer_inputs[0], skip={1, 3}))


def test_padding_does_not_leak(tiny):
    loaded = tiny("gemma2", layers=4)
    ids, mask = _batch(seed=2)
    runner = LayerRunner(loaded)
    padded = runner.run_layers(t := runner.capture(ids, mask), 0, t.layer_inputs[0], skip={1})
    real = int(mask[1].sum())
    alone = runner.capture(ids[1:, :real], mask[1:, :real])
    single = runner.run_layers(alone, 0, alone.layer_inputs[0], skip={1})
    torch.testing.assert_close(padded[1:, :real], single, rtol=1e-5, atol=1e-5)


def test_lm_loss_matches_hf_loss_and_ignores_padding(tiny):
    loaded = tiny("qwen3", layers=4)
    ids, mask = _batch(seed=3)
    runner = LayerRunner(loaded)
    trace = runner.capture(ids, mask)
    labels = ids.masked_fill(mask == 0, -100)
    with torch.no_grad():
        hf = loaded.model(input_ids=ids, attention_mask=mask, labels=labels).loss
    loss = runner.lm_loss(trace.final, ids, mask)
    assert loss == pytest.approx(float(hf), rel=1e-5)
    total, count = runner.lm_loss(trace.final, ids, mask, reduction="sum")
    assert count == int(mask[:, 1:].sum())
    assert total / count == pytest.approx(loss, rel=1e-6)
    # Changing padded token ids must not change the loss.
    ids2 = ids.clone()
    ids2[1, -9:] = 7
    assert runner.lm_loss(runner.capture(ids2, mask).final, ids2, mask) == pytest.approx(loss, rel=1e-6)


def test_bad_inputs(tiny):
    runner = LayerRunner(tiny("llama", layers=3))
    ids, mask = _batch()
    trace = runner.capture(ids, mask)
    with pytest.raises(FastpruneError, match="outside"):
        runner.run_layers(trace, 4, trace.layer_inputs[0])
    with pytest.raises(FastpruneError, match="shape"):
        runner.run_layers(trace, 0, trace.layer_inputs[0][:1])
    with pytest.raises(FastpruneError, match="batch, seq"):
        runner.capture(ids[0])
    with pytest.raises(FastpruneError, match="reduction"):
        runner.lm_loss(trace.final, ids, mask, reduction="none")


@pytest.mark.embedded
def test_embedded_skip_matches_deleted(embedded):
    tok = embedded.tokenizer
    prompts = ["The capital of France is", "One plus one equals two, and"]
    batch = tok(prompts, return_tensors="pt", padding=True)
    runner = LayerRunner(embedded)
    trace = runner.capture(batch["input_ids"], batch["attention_mask"])
    h = runner.run_layers(trace, 20, trace.layer_inputs[20], skip={20, 21, 27})
    pruned = _delete_layers(embedded.model, {20, 21, 27})
    with torch.no_grad():
        expected = pruned(**batch).logits
    torch.testing.assert_close(runner.logits(h), expected, rtol=1e-4, atol=1e-4)
