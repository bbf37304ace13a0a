"""publish_study.py copies a finished run's results, never its weights, and never half-writes DEST."""

from pathlib import Path

import pytest

from tests.benchmarks.scripts import load_script


def _module():
    return load_script("publish_study")


def _run_dir(root: Path) -> Path:
    files = {
        "report.md": "# report\n![contrast](contrast.png)\n", "report.json": "{}", "contrast.png": "png",
        "manifest.json": "{}", "calibrate/importance.json": "{}", "calibrate/heatmap.png": "png",
        "calibrate/state/sums.safetensors": "weights", "calibrate/state/state.json": "{}",
        "prune/bi-r10/config.json": "{}", "prune/bi-r10/fastprune_prune.json": "{}",
        "prune/bi-r10/model.safetensors": "weights", "prune/bi-r10/tokenizer.json": "{}",
        "train/bi-r10.train/train_log.jsonl": "{}\n", "train/bi-r10/adapter/adapter_config.json": "{}",
        "train/bi-r10/tokenizer.json": "{}", "train/bi-r10/model.safetensors": "weights",
        "evaluate/base/scores.json": "{}", "evaluate/base/samples/0_m/piqa.jsonl": '{"id": "0"}\n',
        "bench/bench.json": "{}", "bench/speedup.png": "png",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_copies_results_not_weights_and_replaces_dest(tmp_path):
    run = _run_dir(tmp_path / "run")
    dest = tmp_path / "docs" / "study"
    dest.mkdir(parents=True)
    (dest / "stale.md").write_text("from an older study")
    copied = _module().publish(run, dest)
    got = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert got == sorted(str(p.relative_to(dest)) for p in copied) == [
        "bench/bench.json", "bench/speedup.png", "calibrate/heatmap.png", "calibrate/importance.json",
        "contrast.png", "evaluate/base/samples/0_m/piqa.jsonl", "evaluate/base/scores.json", "manifest.json",
        "prune/bi-r10/config.json", "prune/bi-r10/fastprune_prune.json", "report.json", "report.md",
        "train/bi-r10.train/train_log.jsonl"]
    assert not list(dest.parent.glob(".study.*"))  # no temp dir left beside it


def test_an_unfinished_run_is_refused_and_dest_untouched(tmp_path):
    run = _run_dir(tmp_path / "run")
    (run / "report.json").unlink()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "keep.md").write_text("x")
    with pytest.raises(SystemExit, match="has no report.json"):
        _module().publish(run, dest)
    assert [p.name for p in dest.iterdir()] == ["keep.md"]
