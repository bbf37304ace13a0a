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


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    """``fastprune calibrate tiny:llama:4`` twice: every metric on (block 1), and the loss ablation on
    2-layer blocks; the two importance.json paths."""
    root = tmp_path_factory.mktemp("calibrated")
    corpus = root / "corpus.txt"
    corpus.write_text("".join(f"The number {i} comes after {i - 1} and before {i + 1}.\n" for i in range(40)))
    base = ["calibrate", "tiny:llama:4", "--data", str(corpus), "--seq-len", "24", "--max-tokens", "300",
            "--batch-size", "4", "--no-progress"]
    assert main([*base, "--out", str(root / "all"), "--taylor", "--loss-ablation"]) == 0
    assert main([*base, "--out", str(root / "block2"), "--loss-ablation", "--block", "2"]) == 0
    return root / "all" / "importance.json", root / "block2" / "importance.json"


def _dry_run(capsys, path, *args) -> list[int]:
    code = main(["prune", "tiny:llama:4", "--importance", str(path), *args, "--dry-run", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)["removed_layers"]


def _lowest(values, n):
    return sorted(sorted(range(len(values)), key=lambda i: (values[i], i))[:n])


@pytest.mark.parametrize("metric", ["taylor", "magnitude", "loss_delta", "update_ratio", "bi_last_token", "bi"])
def test_bi_prunes_the_lowest_of_any_calibrated_metric(calibrated, capsys, metric):
    path = calibrated[0]
    values = json.loads(path.read_text())[metric]
    assert len(values) == 4 and len(set(values)) == 4  # a real ranking, not ties
    for n in (1, 2):
        assert _dry_run(capsys, path, "--strategy", "bi", "--drop", str(n), "--metric", metric) == _lowest(values, n)


def test_block_prunes_by_square_metrics_and_matching_loss_blocks(calibrated, capsys):
    everything, block2 = calibrated
    data = json.loads(everything.read_text())
    for n in (1, 2):
        starts = range(4 - n + 1)
        lowest_angular = min(starts, key=lambda s: (data["angular_last_token"][s][s + n], s))
        got = _dry_run(capsys, everything, "--strategy", "block", "--drop", str(n), "--metric", "angular_last_token")
        assert got == list(range(lowest_angular, lowest_angular + n))
        highest_cosine = min(starts, key=lambda s: (-data["cosine"][s][s + n], s))  # high similarity = redundant
        got = _dry_run(capsys, everything, "--strategy", "block", "--drop", str(n), "--metric", "cosine")
        assert got == list(range(highest_cosine, highest_cosine + n))
    deltas = json.loads(block2.read_text())["loss_delta"]
    assert len(deltas) == 3  # one per 2-layer block
    start = _lowest(deltas, 1)[0]
    assert _dry_run(capsys, block2, "--strategy", "block", "--drop", "2", "--metric", "loss_delta") == [
        start, start + 1]


@pytest.mark.parametrize(
    ("which", "args", "message"),
    [
        (1, ["--strategy", "bi", "--drop", "1", "--metric", "taylor"],
         "has no 'taylor' metric (it has: angular, "),
        (1, ["--strategy", "bi", "--drop", "1", "--metric", "taylor"], "'fastprune calibrate --taylor'"),
        (0, ["--strategy", "block", "--drop", "1", "--metric", "taylor"],
         "--metric 'taylor' does not apply to block; use one of cosine, angular, "),
        (1, ["--strategy", "bi", "--drop", "1", "--metric", "loss_delta"],
         "'loss_delta' was measured on 2-layer blocks (calibrate --block 2)"),
        (1, ["--strategy", "block", "--drop", "1", "--metric", "loss_delta"], "recalibrate with --block 1"),
        (0, ["--strategy", "reverse", "--drop", "1", "--metric", "taylor"], "--metric applies to --strategy"),
    ],
)
def test_a_metric_that_is_missing_or_does_not_fit_is_one_error_line(calibrated, tmp_path, capsys, which, args,
                                                                     message):
    out = tmp_path / "out"
    assert main(["prune", "tiny:llama:4", "--importance", str(calibrated[which]), *args, "--out", str(out)]) == 2
    line = _err_line(capsys)
    assert line.startswith("error: ") and message in line
    assert not out.exists()


def test_metric_choices_come_from_the_schema(capsys):
    from fastprune.cli import build_parser
    from fastprune.importance.schema import rankable_names

    prune = build_parser()._subparsers._group_actions[0].choices["prune"]
    metric = next(a for a in prune._actions if "--metric" in a.option_strings)
    assert tuple(metric.choices) == rankable_names()
    assert {"taylor", "magnitude", "loss_delta"} <= set(metric.choices)
    # a statistic that ranks nothing is refused by argparse (main turns its usage error into exit 2)
    assert main(["prune", "tiny:llama:4", "--strategy", "bi", "--drop", "1", "--metric", "norms", "--dry-run"]) == 2
    assert "invalid choice: 'norms'" in capsys.readouterr().err
