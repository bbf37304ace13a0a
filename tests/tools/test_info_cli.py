import json

from fastprune.cli import main


def test_info_json_on_tiny_model(capsys):
    assert main(["info", "tiny:phi3:3", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["architecture"] == "Phi3ForCausalLM" and info["num_layers"] == 3


def test_info_random_8b_is_instant_on_meta(capsys):
    assert main(["info", "random:qwen2.5-7b"]) == 0
    out = capsys.readouterr().out
    assert "Qwen2ForCausalLM" in out and "layers         28" in out


def test_info_embedded_json(capsys, embedded):
    assert main(["info", "smollm2-135m", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["architecture"] == "LlamaForCausalLM" and info["num_layers"] == 30


def test_unknown_model_is_one_error_line(capsys):
    assert main(["info", "does-not-exist"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: unknown model 'does-not-exist'")
