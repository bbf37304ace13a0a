"""``fastprune prune`` end to end through the CLI entry point: output contract, dry run, bad input."""

from __future__ import annotations

import json
import os

import pytest

from fastprune.cli import main


def _err_line(capsys) -> str:
    return capsys.readouterr().err.strip().splitlines()[-1]


def test_block_prune_writes_contract(tiny, importance_file, tmp_path, capsys):
    path = importance_file(tiny("qwen3", layers=6))
    out = tmp_path / "pruned"
    code = main(["prune", "tiny:qwen3:6", "--importance", str(path), "--strategy", "block", "--drop", "2",
                 "--out", str(out), "--quiet"])
    assert code == 0
    stdout = capsys.readouterr().out
    assert "6 -> 4 layers" in stdout and "verified:" in stdout and str(out) in stdout
    config = json.loads((out / "config.json").read_text())
    assert config["num_hidden_layers"] == 4
    block = config["fastprune"]
    assert block["strategy"] == "block" and block["original_num_layers"] == 6
    assert len(block["removed_layers"]) == 2
    assert block["removed_layers"][1] == block["removed_layers"][0] + 1  # contiguous
    assert block["importance_sha256"] and block["importance_path"] == str(path)
    report = json.loads((out / "fastprune_prune.json").read_text())
    assert report["verification"]["greedy_tokens_checked"] == 24


def test_dry_run_writes_nothing(tmp_path, capsys):
    out = tmp_path / "never"
    code = main(["prune", "tiny:llama:8", "--strategy", "reverse", "--ratio", "0.25", "--dry-run", "--json",
                 "--out", str(out)])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["removed_layers"] == [5, 6]
    assert summary["ideal_speedup_layers"] == pytest.approx(8 / 6)
    assert summary["forward_flops_per_token_removed"] == 2 * summary["parameters_removed"]
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_iterative_cli(tmp_path, shared_data, capsys):
    out = tmp_path / "it"
    calib = os.path.join(shared_data, "wikitext2", "valid.txt")
    code = main(["prune", "tiny:gemma2:5", "--strategy", "iterative", "--drop", "1", "--calib-data", calib,
                 "--calib-samples", "2", "--seq-len", "32", "--out", str(out), "--quiet"])
    assert code == 0, capsys.readouterr().err
    block = json.loads((out / "config.json").read_text())["fastprune"]
    assert block["strategy"] == "iterative" and block["removed_layers"][0] != 0
    assert block["iterative_history"][0]["removed"] == block["removed_layers"][0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--strategy", "explicit", "--layers", "0,1,2,3"], "cannot remove all 4 layers"),
        (["--strategy", "explicit", "--layers", "1,-3"], "more than once"),
        (["--strategy", "explicit", "--layers", "7"], "out of range"),
        (["--strategy", "block", "--drop", "1"], "reads importance.json"),
        (["--strategy", "bi", "--drop", "1", "--importance", "/nonexistent/imp.json"], "not found"),
        (["--strategy", "reverse", "--drop", "0"], "at least 1"),
        (["--strategy", "reverse", "--layers", "1"], "only applies to --strategy explicit"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(tmp_path, capsys, args, message):
    out = tmp_path / "out"
    assert main(["prune", "tiny:llama:4", *args, "--out", str(out)]) == 2
    line = _err_line(capsys)
    assert line.startswith("error: ") and message in line
    assert list(tmp_path.iterdir()) == []


def test_importance_from_other_model_or_missing_metric(tiny, importance_file, tmp_path, capsys):
    other = importance_file(tiny("phi3", layers=4, seed=7), name="other.json")
    out = tmp_path / "out"
    assert main(["prune", "tiny:phi3:4", "--importance", str(other), "--strategy", "bi", "--drop", "1",
                 "--out", str(out)]) == 2
    assert "another model" in _err_line(capsys)
    no_bi = importance_file(tiny("phi3", layers=4), drop=("bi",), name="nobi.json")
    assert main(["prune", "tiny:phi3:4", "--importance", str(no_bi), "--strategy", "bi", "--drop", "1",
                 "--out", str(out)]) == 2
    assert "no 'bi' metric" in _err_line(capsys)
    assert not out.exists()


def test_existing_output_needs_overwrite(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    base = ["prune", "tiny:mistral:4", "--strategy", "reverse", "--drop", "1", "--out", str(out), "--quiet"]
    assert main(base) == 2
    assert "already exists" in _err_line(capsys)
    assert main([*base, "--overwrite", "--no-verify"]) == 0
    assert "verified:         no" in capsys.readouterr().out
    assert json.loads((out / "config.json").read_text())["num_hidden_layers"] == 3
    assert main(["prune", "tiny:mistral:4", "--strategy", "reverse", "--drop", "1"]) == 2
    assert "--out is required" in _err_line(capsys)
