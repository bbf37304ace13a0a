import json

from fastprune.cli import main


def test_env_json_reports_versions_and_native_modules(capsys):
    assert main(["env", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    for key in ("python", "torch", "transformers", "cuda_available", "native"):
        assert key in info
    assert "error" not in info["native"], info["native"]
    assert set(info["native"]) >= {"cpu", "cuda"}


def test_env_human_readable(capsys):
    assert main(["env"]) == 0
    assert "torch" in capsys.readouterr().out
