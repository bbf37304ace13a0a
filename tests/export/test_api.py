"""``fastprune export``: verified on export, atomic, a report next to the file, clear errors."""

from __future__ import annotations

import json
import types

import pytest

from fastprune.cli import main
from fastprune.errors import FastpruneError
from fastprune.export import gguf_writer, verify
from fastprune.export.api import export_gguf
from fastprune.models.gguf import read_gguf_fields


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch, request):
    # tiny-model tests get a private cache; embedded ones share the usual one (converted once per machine)
    if not request.node.get_closest_marker("embedded"):
        monkeypatch.setenv("FASTPRUNE_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def pruned(tmp_path):
    def make(family: str, layers: int = 5, drop: str = "1,2"):
        out = tmp_path / f"pruned-{family}"
        assert main(["prune", f"tiny:{family}:{layers}", "--strategy", "explicit", "--layers", drop,
                     "--out", str(out), "--quiet"]) == 0
        return out

    return make


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.is_file())


@pytest.mark.parametrize(("family", "qtype"), [("qwen3", "q8_0"), ("gemma3", "f16"), ("llama", "f32")])
def test_cli_exports_pruned_checkpoint_verified(tmp_path, pruned, capsys, family, qtype):
    src = pruned(family)
    out_dir = tmp_path / "gguf"
    out = out_dir / "model.gguf"
    assert main(["export", str(src), "--format", "gguf", "--out", str(out), "--type", qtype]) == 0
    printed = capsys.readouterr()
    assert "verified:" in printed.out and "llama.cpp:  skipped" in printed.out
    assert _leftovers(out_dir) == ["model.gguf", "model.gguf.json"]
    report = json.loads((out_dir / "model.gguf.json").read_text())
    v = report["verification"]
    assert report["num_layers"] == 3 and v["num_layers"] == 3 and v["tokenizer_match"]
    assert v["max_rel_logit_diff"] <= verify.TOLERANCE[qtype] and v["top1_agreement"] > 0.9
    if qtype == "f32":
        assert v["max_rel_logit_diff"] < 1e-6
    assert v["weights_max_abs_diff"] < 1e-6
    assert "commit" in report["provenance"] and report["type"] == qtype
    assert read_gguf_fields(out)[f"{report['architecture']}.block_count"] == 3


def test_failed_verification_leaves_nothing(tmp_path, pruned, monkeypatch):
    src = pruned("llama")
    # a writer bug llama.cpp would also hit; its logit error on a tiny random model is within q8_0's
    # tolerance, the weight check still names the tensors
    monkeypatch.setattr(gguf_writer, "_permute", lambda w, n: w)
    with pytest.raises(FastpruneError, match=r"differ from what q8_0 stores for \['model.layers.0.self_attn.q_proj"):
        export_gguf(str(src), tmp_path / "o" / "m.gguf", qtype="q8_0")
    assert _leftovers(tmp_path / "o") == []


def test_logit_tolerance_is_enforced(tmp_path, pruned, monkeypatch):
    src = pruned("qwen2")
    monkeypatch.setitem(verify.TOLERANCE, "f16", 1e-9)
    with pytest.raises(FastpruneError, match="logits differ by .* over the f16 tolerance"):
        export_gguf(str(src), tmp_path / "o" / "m.gguf", qtype="f16")
    assert _leftovers(tmp_path / "o") == []


def test_bad_output_paths_are_clear_errors(tmp_path, pruned, capsys):
    src = pruned("qwen2")
    existing = tmp_path / "there.gguf"
    existing.write_text("keep me")
    assert main(["export", str(src), "--format", "gguf", "--out", str(existing)]) == 2
    assert "already exists" in capsys.readouterr().err and existing.read_text() == "keep me"
    assert main(["export", str(src), "--format", "gguf", "--out", str(tmp_path / "m.bin")]) == 2
    assert "must end in .gguf" in capsys.readouterr().err
    assert main(["export", str(src), "--format", "gguf", "--out", str(existing), "--overwrite", "--no-verify"]) == 0
    assert existing.read_bytes()[:4] == b"GGUF"


def test_llama_cpp_path_compares_greedy_tokens(tmp_path, pruned, monkeypatch):
    """With llama-cpp-python present, its greedy tokens must equal HF's (here a stand-in module that
    decodes through the reloaded GGUF, and one that answers wrongly)."""
    import sys

    import torch

    from fastprune.models.gguf import load_gguf

    class FakeLlama:
        shift = 0

        def __init__(self, model_path, **_):
            self.model, _tok = load_gguf(model_path, dtype=torch.float32)

        def generate(self, ids, top_k, temp, repeat_penalty, reset):
            assert top_k == 1 and temp == 0.0 and repeat_penalty == 1.0 and reset
            ids = list(ids)
            while True:
                with torch.no_grad():
                    token = int(self.model(torch.tensor([ids])).logits[0, -1].argmax()) + self.shift
                ids.append(token)
                yield token

    monkeypatch.setitem(sys.modules, "llama_cpp", types.SimpleNamespace(Llama=FakeLlama))
    monkeypatch.setattr(verify, "llama_cpp_available", lambda: True)
    src = pruned("qwen3")
    report = export_gguf(str(src), tmp_path / "ok.gguf")
    assert report["verification"]["llama_cpp"] == {"status": "passed", "prompts": 3, "tokens_each": 8}
    FakeLlama.shift = 1
    with pytest.raises(FastpruneError, match="llama.cpp's greedy output differs"):
        export_gguf(str(src), tmp_path / "bad.gguf")
    assert not (tmp_path / "bad.gguf").exists()


def test_llama_cpp_notes_name_what_it_computes_differently(pruned):
    from fastprune.models import load_model

    config = load_model(str(pruned("gemma3", layers=6))).model.config
    assert config.layer_types == ["sliding_attention", "full_attention", "sliding_attention", "full_attention"]
    (note,) = verify.llama_cpp_notes(config)
    assert "layers [1, 3]" in note and "32 tokens" in note


@pytest.mark.embedded
def test_embedded_pruned_by_8_round_trips(tmp_path):
    """The embedded SmolLM2 (30 layers) pruned to 22 exports to GGUF (q8_0: 4x smaller than f32, and a
    q/k permutation or norm bug would still show as an O(1) logit error on trained weights) and reloads."""
    src = tmp_path / "pruned"
    assert main(["prune", "smollm2-135m", "--strategy", "reverse", "--drop", "8", "--out", str(src),
                 "--quiet", "--no-verify"]) == 0
    out = tmp_path / "smol.gguf"
    report = export_gguf(str(src), out, qtype="q8_0")
    v = report["verification"]
    assert report["num_layers"] == 22 and v["tokenizer_match"] and v["top1_agreement"] > 0.8
    assert v["max_rel_logit_diff"] <= verify.TOLERANCE["q8_0"]
    fields = read_gguf_fields(out)
    assert fields["llama.block_count"] == 22 and fields["tokenizer.ggml.model"] == "gpt2"
    assert fields["tokenizer.ggml.bos_token_id"] == 1 and fields["tokenizer.chat_template"]
    assert not report["notes"]  # real merges: usable by llama.cpp as written
