import pytest

from fastprune.errors import FastpruneError
from fastprune.models import parse_model_spec, random_config_names


def test_embedded_aliases():
    for name in ("smollm2-135m", "embedded", "SmolLM2-135M"):
        assert parse_model_spec(name).kind == "embedded"


def test_random_and_tiny_specs():
    assert {"llama-3.2-1b", "llama-3.1-8b", "qwen2.5-7b", "mistral-7b"} <= set(random_config_names())
    spec = parse_model_spec("random:Llama-3.2-1B")
    assert (spec.kind, spec.value) == ("random", "llama-3.2-1b")
    spec = parse_model_spec("tiny:qwen3:4")
    assert (spec.kind, spec.value, spec.layers) == ("tiny", "qwen3", 4)


def test_local_dir_gguf_and_hub(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    assert parse_model_spec(str(tmp_path)).kind == "local"
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    assert parse_model_spec(str(gguf)).kind == "gguf"
    assert parse_model_spec("meta-llama/Llama-3.2-1B").kind == "hub"


@pytest.mark.parametrize(
    "spec, message",
    [
        ("random:gpt-17", "unknown random model"),
        ("tiny:bert", "unknown tiny family"),
        ("no_such_model", "unknown model"),
        ("missing.gguf", "GGUF file not found"),
        ("random:missing.json", "random model config not found"),
        ("", "empty model spec"),
    ],
)
def test_bad_specs_name_the_problem(spec, message):
    with pytest.raises(FastpruneError, match=message):
        parse_model_spec(spec)


def test_dir_without_config_is_rejected(tmp_path):
    with pytest.raises(FastpruneError, match="no config.json"):
        parse_model_spec(str(tmp_path))
