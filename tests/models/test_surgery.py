"""Layer surgery: validation, renumbering, config slicing, tied embeddings, provenance."""

from __future__ import annotations

import pytest
import torch

from fastprune.errors import FastpruneError
from fastprune.models import TINY_FAMILIES
from fastprune.models.layer_runner import LayerRunner
from fastprune.models.surgery import normalize_layers, prune_model, temporarily_pruned


def test_normalize_resolves_negatives_and_sorts():
    assert normalize_layers([5, -1, 2], 8) == [2, 5, 7]


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        ([], "no layers"),
        ([0, 1, 2, 3], "all 4"),
        ([1, 1], "more than once"),
        ([3, -1], "more than once"),
        ([4], "out of range"),
        ([-5], "out of range"),
        (["1"], "not an integer"),
    ],
)
def test_normalize_rejects_bad_lists(layers, message):
    with pytest.raises(FastpruneError, match=message):
        normalize_layers(layers, 4)


@pytest.mark.parametrize("family", list(TINY_FAMILIES))
def test_prune_matches_skipped_original(tiny, family):
    loaded = tiny(family, layers=6)
    ids = torch.randint(0, 256, (2, 40), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    mask[0, 30:] = 0
    runner = LayerRunner(loaded)
    trace = runner.capture(ids, mask)
    expected = runner.logits(runner.run_layers(trace, 1, trace.layer_inputs[1], skip={1, 4}))
    types_before = list(getattr(loaded.model.config, "layer_types", None) or [])
    pruned = prune_model(loaded.model, [1, 4], inplace=False, strategy="explicit")
    assert pruned is not loaded.model
    assert loaded.adapter.num_layers == 6  # the copy left the original intact
    assert pruned.config.num_hidden_layers == 4
    assert len(pruned.model.layers) == 4
    if types_before:
        assert pruned.config.layer_types == [types_before[i] for i in (0, 2, 3, 5)]
    indices = [m.layer_idx for layer in pruned.model.layers for m in layer.modules() if hasattr(m, "layer_idx")]
    assert sorted(set(indices)) == [0, 1, 2, 3]
    real = mask.bool()
    with torch.no_grad():
        got = pruned(input_ids=ids, attention_mask=mask).logits
    torch.testing.assert_close(got[real], expected[real], rtol=1e-5, atol=1e-5)


def test_inplace_keeps_tied_embeddings_and_records_provenance(tiny):
    loaded = tiny("llama", layers=5)
    model = loaded.model
    assert model.lm_head.weight is model.model.embed_tokens.weight
    out = prune_model(loaded, [-1, 0], strategy="bi", importance_sha256="ab" * 32, extra_provenance={"x": 1})
    assert out is model
    assert model.lm_head.weight is model.model.embed_tokens.weight
    block = model.config.fastprune
    assert block["removed_layers"] == [0, 4]
    assert block["kept_layers"] == [1, 2, 3]
    assert block["original_num_layers"] == 5
    assert block["strategy"] == "bi"
    assert block["importance_sha256"] == "ab" * 32
    assert block["x"] == 1
    # A second pruning keeps the first block, indices of the second refer to the 3-layer model.
    prune_model(model, [1])
    assert model.config.fastprune["removed_layers"] == [1]
    assert model.config.fastprune["original_num_layers"] == 3
    assert model.config.fastprune["previous"]["removed_layers"] == [0, 4]
    assert model.config.num_hidden_layers == 2


def test_index_fields_are_remapped(tiny):
    loaded = tiny("qwen2", layers=6)
    loaded.model.config.max_window_layers = 4
    loaded.model.config.mlp_only_layers = [1, 3, 5]
    prune_model(loaded.model, [1, 2])
    assert loaded.model.config.max_window_layers == 2  # layers 0 and 3 remain below the old bound
    assert loaded.model.config.mlp_only_layers == [1, 3]  # old 3 -> 1, old 5 -> 3


def test_inconsistent_model_is_refused(tiny):
    loaded = tiny("llama", layers=4)
    loaded.model.config.num_hidden_layers = 5
    with pytest.raises(FastpruneError, match="disagrees"):
        prune_model(loaded.model, [1])
    with pytest.raises(FastpruneError, match="torch model"):
        prune_model(object(), [1])


@pytest.mark.parametrize("family", ["gemma3", "llama"])
def test_temporarily_pruned_is_exact_and_restores(tiny, family):
    loaded = tiny(family, layers=6)
    model = loaded.model
    ids = torch.randint(0, 256, (1, 40), generator=torch.Generator().manual_seed(1))
    config_before = model.config.to_dict()
    idx_before = [m.layer_idx for m in loaded.adapter.attention_modules()]
    with torch.no_grad():
        before = model(input_ids=ids).logits
        reference = prune_model(model, [1, 2], inplace=False)
        ref_logits = reference(input_ids=ids).logits
        ref_tokens = reference.generate(ids, max_new_tokens=6, min_new_tokens=6, do_sample=False)
        with temporarily_pruned(model, [1, 2]) as pruned:
            assert pruned.config.num_hidden_layers == 4
            torch.testing.assert_close(pruned(input_ids=ids).logits, ref_logits, rtol=0, atol=0)
            # Generation with the KV cache works inside (renumbered layer_idx, sliced layer_types).
            tokens = pruned.generate(ids, max_new_tokens=6, min_new_tokens=6, do_sample=False)
            assert torch.equal(tokens, ref_tokens)
        after = model(input_ids=ids).logits
    torch.testing.assert_close(after, before, rtol=0, atol=0)
    assert model.config.to_dict() == config_before
    assert [m.layer_idx for m in loaded.adapter.attention_modules()] == idx_before
    assert not hasattr(model.config, "fastprune")


def test_temporarily_pruned_restores_after_error(tiny):
    loaded = tiny("qwen2", layers=4)
    with pytest.raises(RuntimeError, match="boom"), temporarily_pruned(loaded.model, [0]):
        raise RuntimeError("boom")
    assert loaded.adapter.num_layers == 4 and loaded.model.config.num_hidden_layers == 4
    assert len(loaded.model.config.layer_types) == 4
