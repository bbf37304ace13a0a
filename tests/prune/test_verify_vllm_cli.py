"""``fastprune prune --verify vllm`` wiring, with a stand-in for vLLM's Python (no vLLM needed)."""

from __future__ import annotations

import json
import sys

from fastprune.cli import main

# Reads the job like vllm_offline.py and reports every checkpoint as failing to load, as vLLM would for an
# unsupported architecture.
FAKE_JOB = """
import json, sys
job = json.load(open(sys.argv[2]))
out = {"vllm_version": "fake", "results": {c["path"]: {"ok": False, "error": "ValueError: unsupported"}
                                           for c in job["checkpoints"]}}
json.dump(out, open(sys.argv[3], "w"))
"""


def test_verify_vllm_needs_its_python_before_anything_is_loaded(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("FASTPRUNE_VLLM_PYTHON", raising=False)
    code = main(["prune", "tiny:llama:4", "--strategy", "explicit", "--layers", "1", "--out", str(tmp_path / "p"),
                 "--verify", "vllm"])
    assert code == 2 and "--vllm-python" in capsys.readouterr().err and not (tmp_path / "p").exists()


def test_a_checkpoint_vllm_rejects_is_reported_and_kept(tmp_path, capsys):
    script = tmp_path / "job.py"
    script.write_text(FAKE_JOB)
    fake = tmp_path / "python"
    fake.write_text(f"#!/bin/sh\nexec {sys.executable} {script} \"$@\"\n")
    fake.chmod(0o755)
    out = tmp_path / "p"
    code = main(["prune", "tiny:llama:4", "--strategy", "explicit", "--layers", "1", "--out", str(out),
                 "--verify", "vllm", "--vllm-python", str(fake), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "does NOT load in vLLM: ValueError: unsupported" in err
    assert "HF checkpoint itself is written and verified" in err and (out / "config.json").exists()
    report = json.loads((out / "vllm_verification.json").read_text())
    entry = report["checkpoints"][str(out.resolve())]
    assert entry["loads_in_vllm"] is False and report["vllm_version"] == "fake"
    assert (tmp_path / "p.vllm-verify" / "vllm-verify.log").exists()
