"""GGUF files as models (issue #14 item 1): de-quantised once into a cached, ordinary checkpoint.

The files are written by ``fastprune.export.gguf_writer`` (the export stage's writer) from tiny random
models of every family that transformers can load from GGUF and fastprune supports.
"""

from __future__ import annotations

import json

import pytest
import torch

from fastprune.cli import main
from fastprune.errors import FastpruneError
from fastprune.export.gguf_writer import write_gguf
from fastprune.models import byte_tokenizer, load_model
from fastprune.models import gguf as gguf_mod
from fastprune.models.tiny import TINY_FAMILIES, tiny_model

# transformers' GGUF loader (GGUF_SUPPORTED_ARCHITECTURES) covers all of fastprune's tiny families;
# Mistral arrives as llama.cpp's "llama" architecture and is restored from its sliding window.
GGUF_FAMILIES = ("llama", "qwen2", "qwen3", "mistral", "gemma2", "gemma3", "phi3")
IDS = torch.tensor([[256, 72, 101, 108, 108, 111, 44, 32, 119, 111, 114, 108, 100, 258, 49, 50]])


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch, request):
    # tiny-model tests get a private cache; embedded ones share the usual one (converted once per machine)
    if not request.node.get_closest_marker("embedded"):
        monkeypatch.setenv("FASTPRUNE_CACHE", str(tmp_path / "cache"))


def _gguf_file(tmp_path, family: str, layers: int = 4, qtype: str = "f32"):
    model = tiny_model(family, layers)
    path = tmp_path / f"{family}.gguf"
    write_gguf(model, byte_tokenizer(), path, qtype)
    return model, path


def test_families_cover_every_tiny_family_transformers_reads():
    from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES

    assert set(GGUF_FAMILIES) == set(TINY_FAMILIES)
    assert {"llama", "qwen2", "qwen3", "gemma2", "gemma3", "phi3"} <= set(GGUF_SUPPORTED_ARCHITECTURES)


@pytest.mark.parametrize("family", GGUF_FAMILIES)
def test_gguf_loads_as_the_model_it_was_written_from(tmp_path, family):
    source, path = _gguf_file(tmp_path, family)
    loaded = load_model(str(path), dtype="float32")
    model = loaded.model
    assert type(model).__name__ == type(source).__name__
    assert loaded.path is not None and loaded.path.parent == tmp_path / "cache" / "models"
    assert getattr(model.config, "quantization_config", None) is None
    assert getattr(model.config, "layer_types", None) == getattr(source.config, "layer_types", None)
    assert getattr(model.config, "sliding_window", None) == getattr(source.config, "sliding_window", None)
    with torch.no_grad():
        torch.testing.assert_close(model(IDS).logits, source(IDS).logits, rtol=0, atol=1e-6)
    text = "Hi <|im_start|>user\nsay 12<|im_end|>"
    assert loaded.tokenizer.encode(text) == byte_tokenizer().encode(text)
    assert loaded.tokenizer.chat_template == byte_tokenizer().chat_template


def test_conversion_happens_once_and_is_keyed_by_content(tmp_path, monkeypatch):
    from fastprune.models import parse_model_spec
    from fastprune.models.loader import checkpoint_path

    _, path = _gguf_file(tmp_path, "qwen3")
    first = load_model(str(path)).path
    assert checkpoint_path(parse_model_spec(str(path))) == first  # what train --mode qlora loads from

    def refuse(*_a, **_k):
        raise AssertionError("a cached GGUF must not be converted again")

    monkeypatch.setattr(gguf_mod, "convert_gguf", refuse)
    assert load_model(str(path)).path == first
    copy = tmp_path / "elsewhere" / "renamed.gguf"  # same content, another path and name: same conversion
    copy.parent.mkdir()
    copy.write_bytes(path.read_bytes())
    assert load_model(str(copy)).path == first
    write_gguf(tiny_model("qwen3", 2), byte_tokenizer(), path, "f32")  # same name, new content
    with pytest.raises(AssertionError, match="converted again"):
        load_model(str(path))


def test_gemma_layer_pattern_survives_pruning_and_gguf(tmp_path):
    """A pruned Gemma 3 has a non-periodic sliding/full pattern: the GGUF must carry it per layer."""
    pruned = tmp_path / "pruned"
    assert main(["prune", "tiny:gemma3:6", "--strategy", "explicit", "--layers", "1,2", "--out", str(pruned),
                 "--quiet"]) == 0
    source = load_model(str(pruned), dtype="float32")
    path = tmp_path / "pruned.gguf"
    write_gguf(source.model, source.tokenizer, path, "f32")
    loaded = load_model(str(path), dtype="float32")
    assert loaded.model.config.layer_types == source.model.config.layer_types == [
        "sliding_attention", "full_attention", "sliding_attention", "full_attention"]
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(IDS).logits, source.model(IDS).logits, rtol=0, atol=1e-6)


def test_prune_a_gguf_file_saves_and_verifies(tmp_path, capsys):
    """The issue's reproduction: this stopped at save with 'quantized with gguf and is not serializable'."""
    _, path = _gguf_file(tmp_path, "llama", layers=6)
    out = tmp_path / "p"
    assert main(["prune", str(path), "--strategy", "explicit", "--layers", "2,3", "--out", str(out)]) == 0
    assert "verified:" in capsys.readouterr().out
    config = json.loads((out / "config.json").read_text())
    assert config["num_hidden_layers"] == 4 and "quantization_config" not in config


def test_every_stage_takes_a_gguf_file(tmp_path, capsys):
    _, path = _gguf_file(tmp_path, "qwen2", layers=2)
    spec = str(path)
    assert main(["info", spec, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["num_layers"] == 2
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("The cat sat on the mat. " * 40)
    assert main(["calibrate", spec, "--data", str(corpus), "--out", str(tmp_path / "cal"), "--seq-len", "16",
                 "--batch-size", "2", "--max-tokens", "64", "--no-progress"]) == 0
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"id": f"p{i}", "prompt": f"Say {i}"}) + "\n" for i in range(3)))
    responses = tmp_path / "responses.jsonl"
    assert main(["generate", spec, "--prompts", str(prompts), "--field", "prompt", "--out", str(responses),
                 "--max-new-tokens", "3", "--no-progress"]) == 0
    assert len(responses.read_text().splitlines()) == 3
    assert main(["train", spec, "--data", str(responses), "--out", str(tmp_path / "tr"), "--mode", "full",
                 "--max-steps", "1", "--batch-size", "2", "--max-seq-len", "64", "--device", "cpu"]) == 0
    assert main(["eval", spec, "--tasks", "parens", "--limit", "2", "--max-new-tokens", "3",
                 "--out", str(tmp_path / "ev"), "--no-progress"]) == 0
    assert main(["bench", spec, "--batch-sizes", "1", "--prompt-len", "4", "--new-tokens", "2", "--repeats", "1",
                 "--warmup", "0", "--device", "cpu", "--out", str(tmp_path / "b")]) == 0


def test_corrupt_gguf_is_one_clear_error_and_caches_nothing(tmp_path, capsys):
    path = tmp_path / "broken.gguf"
    path.write_bytes(b"GGUF but not really a gguf file")
    with pytest.raises(FastpruneError, match="cannot load GGUF file"):
        load_model(str(path))
    assert main(["info", str(path)]) == 2
    assert capsys.readouterr().err.count("error:") == 1
    models = tmp_path / "cache" / "models"
    assert not models.exists() or not list(models.iterdir())


@pytest.mark.embedded
def test_embedded_gguf_path_is_the_embedded_model(tmp_path):
    """The embedded model's own .gguf given as a path goes through the same cache as ``smollm2-135m``."""
    from fastprune.models.embedded import embedded_checkpoint_dir, embedded_gguf_path

    by_name = load_model("smollm2-135m", dtype="float32")
    by_path = load_model(str(embedded_gguf_path()), dtype="float32")
    assert by_path.path == by_name.path == embedded_checkpoint_dir()  # one conversion, found by hash
    ids = torch.tensor([[1, 504, 3253, 28, 2]])
    with torch.no_grad():
        torch.testing.assert_close(by_path.model(ids).logits, by_name.model(ids).logits, rtol=0, atol=0)
    assert by_path.adapter.num_layers == 30 and by_path.tokenizer.chat_template
