import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fastprune.cli import main

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _args(corpus, out):
    return [
        "calibrate",
        "tiny:qwen3:3",
        "--data",
        str(corpus),
        "--template",
        "{question}\n{answer}",
        "--out",
        str(out),
        "--seq-len",
        "12",
        "--batch-size",
        "1",
        "--no-pack",
        "--save-every",
        "2",
        "--no-progress",
        "--dtype",
        "float32",
        "--device",
        "cpu",
        "--loss-ablation",
    ]


@pytest.mark.slow
def test_two_gloo_ranks_equal_one_process(corpus_file, tmp_path):
    proc = subprocess.run(_torchrun(corpus_file, tmp_path / "multi"), env=_env(), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert main(_args(corpus_file, tmp_path / "single")) == 0
    multi = json.loads((tmp_path / "multi" / "importance.json").read_text())
    single = json.loads((tmp_path / "single" / "importance.json").read_text())
    assert multi["settings"]["world_size"] == 2 and single["settings"]["world_size"] == 1
    assert (multi["tokens"], multi["sequences"]) == (single["tokens"], single["sequences"])
    for key in (
        "cosine",
        "angular",
        "cosine_last_token",
        "angular_last_token",
        "norms",
        "update_ratio",
        "bi",
        "loss_delta",
    ):
        a, b = _flat(multi[key]), _flat(single[key])
        # One sequence per batch: each sequence's forward is the same on any rank, only the order of the
        # float64 sums differs.
        assert max(abs(x - y) for x, y in zip(a, b, strict=True)) < 1e-12, key
    # The checkpoint rank 0 wrote holds the sum over both ranks.
    state = json.loads((tmp_path / "multi" / "state" / "state.json").read_text())
    assert state["finished"] and state["position"]["done"]


@pytest.mark.slow
def test_single_process_checkpoint_resumed_by_two_ranks(corpus_file, tmp_path):
    """The data position is global, so a run checkpointed by one process can finish on two."""
    from fastprune.calibrate.runner import CalibrationConfig, calibrate
    from fastprune.data import open_source
    from fastprune.models import load_model

    loaded = load_model("tiny:qwen3:3", dtype="float32", device="cpu")
    source = open_source(str(corpus_file), template="{question}\n{answer}")
    cfg = CalibrationConfig(
        seq_len=12, batch_size=1, pack=False, save_every=2, loss_ablation=True, progress=False
    )

    class Killed(Exception):
        pass

    def kill(batch):
        if batch.index == 4:
            raise Killed

    with pytest.raises(Killed):
        calibrate(loaded, source, cfg, tmp_path / "run", on_batch=kill)
    assert json.loads((tmp_path / "run" / "state" / "state.json").read_text())["batches_done"] == 4
    proc = subprocess.run(
        _torchrun(corpus_file, tmp_path / "run"), env=_env(), capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert main(_args(corpus_file, tmp_path / "single")) == 0
    resumed = json.loads((tmp_path / "run" / "importance.json").read_text())
    single = json.loads((tmp_path / "single" / "importance.json").read_text())
    assert (resumed["tokens"], resumed["batches"]) == (single["tokens"], single["batches"])
    for key in ("cosine", "angular_last_token", "norms", "loss_delta"):
        a, b = _flat(resumed[key]), _flat(single[key])
        assert max(abs(x - y) for x, y in zip(a, b, strict=True)) < 1e-12, key


def _env():
    return {
        **os.environ,
        "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
    }


def _torchrun(corpus, out):
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "fastprune",
        *_args(corpus, out),
    ]


def _flat(x):
    return [v for row in x for v in row] if isinstance(x[0], list) else list(x)
