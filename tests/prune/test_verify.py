"""End-to-end prune + save + verify on every tiny family and the embedded model; broken surgery is caught."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModelForCausalLM

from fastprune.errors import FastpruneError
from fastprune.models import TINY_FAMILIES, surgery
from fastprune.prune.api import prune_and_save
from fastprune.prune.verify import make_probe


@pytest.mark.parametrize("family", list(TINY_FAMILIES))
def test_prune_and_save_verifies_every_family(tiny, tmp_path, family):
    loaded = tiny(family, layers=6)
    out, report = prune_and_save(loaded, [1, 2, -2], tmp_path / "out", strategy="explicit")
    check = report["verification"]
    assert check["max_abs_diff_reloaded_vs_pruned"] <= check["tolerance"]
    assert check["max_abs_diff_pruned_vs_skipped_original"] <= check["tolerance"]
    assert check["greedy_tokens_checked"] == 3 * 8
    config = json.loads((out / "config.json").read_text())
    assert config["num_hidden_layers"] == 3
    assert config["fastprune"]["removed_layers"] == [1, 2, 4]
    reloaded = AutoModelForCausalLM.from_pretrained(out)
    attn = [m.layer_idx for layer in reloaded.model.layers for m in layer.modules() if hasattr(m, "layer_idx")]
    assert sorted(set(attn)) == [0, 1, 2]


def test_probe_has_padding_on_both_sides(tiny):
    probe = make_probe(tiny("llama", layers=2).tokenizer, 320, "cpu")
    assert (probe.attention_mask[:, -1] == 0).any() and (probe.attention_mask[:, -1] == 1).any()
    assert (probe.gen_attention_mask[:, 0] == 0).any() and (probe.gen_attention_mask[:, 0] == 1).any()
    no_tok = make_probe(None, 320, "cpu")
    assert int(no_tok.input_ids.max()) < 320 and (no_tok.attention_mask == 0).any()


def test_missing_renumbering_is_caught(tiny, tmp_path, monkeypatch):
    monkeypatch.setattr(surgery, "_renumber", lambda layers: None)
    loaded = tiny("qwen3", layers=5)
    with pytest.raises(FastpruneError, match="verification failed"):
        prune_and_save(loaded, [1, 2], tmp_path / "out", strategy="explicit")
    assert list(tmp_path.iterdir()) == []


def _patch_layer_types(monkeypatch, wrong):
    real = surgery._slice_config

    def buggy(cfg, keep, fields, old_count):
        types = list(cfg.layer_types)
        changed = real(cfg, keep, fields, old_count)
        cfg.layer_types = wrong(types, keep)
        return changed

    monkeypatch.setattr(surgery, "_slice_config", buggy)


def test_wrongly_sliced_layer_types_is_caught(tiny, tmp_path, monkeypatch):
    # A buggy pruner that truncates layer_types instead of selecting the kept layers' entries.
    _patch_layer_types(monkeypatch, lambda types, keep: types[: len(keep)])
    loaded = tiny("gemma3", layers=6)
    with pytest.raises(FastpruneError, match="verification failed.*skipped"):
        prune_and_save(loaded, [0, 2], tmp_path / "out", strategy="explicit")
    assert list(tmp_path.iterdir()) == []


def test_unsliced_layer_types_is_refused_on_save(tiny, tmp_path, monkeypatch):
    _patch_layer_types(monkeypatch, lambda types, keep: types)
    loaded = tiny("gemma3", layers=6)
    with pytest.raises(FastpruneError, match="cannot save the pruned model.*layer_types"):
        prune_and_save(loaded, [0, 2], tmp_path / "out", strategy="explicit")
    assert list(tmp_path.iterdir()) == []


def test_no_verify_skips_checks(tiny, tmp_path):
    loaded = tiny("mistral", layers=4)
    _, report = prune_and_save(loaded, [3], tmp_path / "out", strategy="reverse", verify=False)
    assert "verification" not in report
    assert json.loads((tmp_path / "out" / "config.json").read_text())["num_hidden_layers"] == 3


@pytest.mark.embedded
def test_embedded_prune_and_verify(embedded, tmp_path):
    import copy

    from fastprune.models.loader import LoadedModel

    # Work on a copy: the session-scoped fixture is shared with other tests.
    loaded = LoadedModel(copy.deepcopy(embedded.model), embedded.tokenizer, embedded.spec, path=embedded.path)
    out, report = prune_and_save(loaded, [20, 21, 22, 23], tmp_path / "smol", strategy="explicit")
    check = report["verification"]
    assert check["max_abs_diff_pruned_vs_skipped_original"] <= check["tolerance"]
    config = json.loads((out / "config.json").read_text())
    assert config["num_hidden_layers"] == 26
    assert config["tie_word_embeddings"] is True
    assert (out / "tokenizer.json").exists() and (out / "generation_config.json").exists()
    reloaded = AutoModelForCausalLM.from_pretrained(out)
    assert reloaded.lm_head.weight is reloaded.model.embed_tokens.weight
    assert embedded.adapter.num_layers == 30
    with torch.no_grad():
        ids = embedded.tokenizer("Paris is the capital of", return_tensors="pt")
        assert torch.isfinite(reloaded(**ids).logits).all()
