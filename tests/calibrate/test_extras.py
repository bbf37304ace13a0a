import copy

import pytest
import torch

from fastprune.calibrate.extras import layer_magnitudes, summed_lm_loss
from fastprune.calibrate.runner import CalibrationConfig, calibrate
from fastprune.data import SequenceStream, open_source, pad_batch


def _without(model, drop: set[int]):
    """A deep copy of ``model`` with the layers in ``drop`` deleted (no KV cache is used, so layer_idx and
    per-layer config lists do not matter for a plain forward)."""
    pruned = copy.deepcopy(model)
    layers = pruned.model.layers
    pruned.model.layers = torch.nn.ModuleList([m for i, m in enumerate(layers) if i not in drop])
    pruned.config.num_hidden_layers = len(pruned.model.layers)
    if getattr(pruned.config, "layer_types", None):
        pruned.config.layer_types = [t for i, t in enumerate(pruned.config.layer_types) if i not in drop]
    return pruned


def _mean_loss(model, batches):
    total, count = 0.0, 0
    with torch.no_grad():
        for ids, mask in batches:
            logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits
            total += float(summed_lm_loss(logits, ids, mask))
            count += int((mask[:, 1:].bool() & mask[:, :-1].bool()).sum())
    return total / count


def _batches(source, tok, seq_len, bs):
    seqs = list(SequenceStream(source, tok, seq_len, pack=False))
    return [pad_batch(seqs[i : i + bs], pad_id=259) for i in range(0, len(seqs), bs)]


@pytest.mark.parametrize(("family", "block"), [("llama", 1), ("gemma3", 2)])
def test_loss_delta_equals_deleting_the_layers(tiny, corpus_file, tmp_path, family, block):
    loaded = tiny(family, layers=4)
    source = open_source(str(corpus_file), template="{question}\n{answer}")
    cfg = CalibrationConfig(
        seq_len=20,
        batch_size=4,
        pack=False,
        save_every=0,
        progress=False,
        plots=False,
        loss_ablation=True,
        block=block,
    )
    got = calibrate(loaded, source, cfg, tmp_path / "o")
    batches = _batches(source, loaded.tokenizer, 20, 4)
    base = _mean_loss(loaded.model, batches)
    assert got["loss_base"] == pytest.approx(base, rel=1e-5)
    assert len(got["loss_delta"]) == 4 - block + 1
    for start, delta in enumerate(got["loss_delta"]):
        pruned = _without(loaded.model, set(range(start, start + block)))
        assert delta == pytest.approx(_mean_loss(pruned, batches) - base, abs=1e-4), start
    # The statistics are still measured, from the same forward.
    plain = calibrate(
        loaded, source, CalibrationConfig(**{**cfg.__dict__, "loss_ablation": False}), tmp_path / "p"
    )
    assert got["bi"] == pytest.approx(plain["bi"], abs=1e-6)


def test_taylor_is_sum_of_abs_weight_times_grad(tiny, corpus_file, tmp_path):
    loaded = tiny("qwen3", layers=3)
    source = open_source(str(corpus_file), field="question")
    cfg = CalibrationConfig(
        seq_len=16,
        batch_size=8,
        pack=False,
        save_every=0,
        progress=False,
        plots=False,
        taylor=True,
        loss_ablation=True,
    )
    got = calibrate(loaded, source, cfg, tmp_path / "o")
    expected = torch.zeros(3, dtype=torch.float64)
    tokens = 0
    for ids, mask in _batches(source, loaded.tokenizer, 16, 8):
        loaded.model.zero_grad(set_to_none=True)
        with torch.enable_grad():
            logits = loaded.model(input_ids=ids, attention_mask=mask, use_cache=False).logits
            summed_lm_loss(logits, ids, mask).backward()
        for i, layer in enumerate(loaded.model.model.layers):
            expected[i] += sum(float((p.detach() * p.grad).abs().sum()) for p in layer.parameters())
        tokens += int(mask.sum())
    loaded.model.zero_grad(set_to_none=True)
    assert got["taylor"] == pytest.approx((expected / tokens).tolist(), rel=1e-4)
    assert got["magnitude"] == pytest.approx(layer_magnitudes(loaded.adapter))
    assert all(p.grad is None for p in loaded.model.parameters())
    assert "loss_delta" in got and got["tokens"] == tokens


def test_magnitude_is_the_l2_norm_of_each_layer(tiny):
    loaded = tiny("llama", layers=2)
    layer = loaded.adapter.layers[1]
    flat = torch.cat([p.detach().reshape(-1).double() for p in layer.parameters()])
    assert layer_magnitudes(loaded.adapter)[1] == pytest.approx(float(flat.norm()))
