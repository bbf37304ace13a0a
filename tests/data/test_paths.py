import pytest

from fastprune.data.paths import ENV_VAR, SHORTHANDS, resolve_shorthand, shared_data_dir
from fastprune.errors import FastpruneError


def test_env_var_wins(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    assert shared_data_dir() == tmp_path.resolve()


def test_env_var_pointing_nowhere_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "missing"))
    with pytest.raises(FastpruneError, match=ENV_VAR):
        shared_data_dir()


def test_found_from_an_unrelated_cwd(shared_data, tmp_path, monkeypatch):
    # The checkout location is the fallback when the working directory tells nothing.
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)
    assert (shared_data_dir() / "gsm8k" / "train.jsonl").is_file()


def test_every_shorthand_resolves(shared_data):
    for name in SHORTHANDS:
        path, _template = resolve_shorthand(name)
        assert path.is_file(), name
    assert resolve_shorthand("not-a-shorthand") is None
    assert resolve_shorthand("gsm8k-train")[1] == "{question}\n{answer}"


def test_shorthand_to_missing_file_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    with pytest.raises(FastpruneError, match="wikitext2"):
        resolve_shorthand("wikitext2")
