"""vLLM verification without vLLM: the comparison, HF's reference decode, and the job process's lifecycle."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from fastprune.engines.vllm_server import ServerOptions
from fastprune.engines.vllm_verify import compare, hf_greedy, hf_reference, run_offline, summary_line
from fastprune.errors import FastpruneError


def test_compare_equal_mismatch_near_tie_and_load_failure():
    ref = {"tokens": [[1, 2, 3], [4, 5, 6]], "margins": [[1.0, 1.0, 1.0], [1.0, 5e-4, 1.0]]}
    ok = compare(ref, {"ok": True, "tokens": [[1, 2, 3], [4, 5, 6]], "load_seconds": 3.0})
    assert ok["ok"] and ok["tokens_compared"] == 6 and "equals HF's (6 tokens)" in summary_line("d", ok)
    tie = compare(ref, {"ok": True, "tokens": [[1, 2, 3], [4, 9, 9]]})
    assert not tie["ok"] and tie["prompts"][1]["first_mismatch"] == 1 and tie["prompts"][1]["near_tie"]
    assert tie["only_near_ties"] and "near-ties" in summary_line("d", tie)
    real = compare(ref, {"ok": True, "tokens": [[7, 2, 3], [4, 5, 6]]})
    assert not real["ok"] and not real["only_near_ties"] and "decisive" in summary_line("d", real)
    short = compare(ref, {"ok": True, "tokens": [[1, 2], [4, 5, 6]]})
    assert short["prompts"][0]["first_mismatch"] == 2
    failed = compare(ref, {"ok": False, "error": "ValueError: no such architecture"})
    assert not failed["loads_in_vllm"] and "does NOT load" in summary_line("d", failed)


def test_hf_reference_of_a_saved_tiny_checkpoint(tiny, tmp_path):
    loaded = tiny("qwen3", layers=2)
    loaded.model.save_pretrained(tmp_path / "ck")
    loaded.tokenizer.save_pretrained(tmp_path / "ck")
    ref = hf_reference(str(tmp_path / "ck"), max_tokens=4)
    assert len(ref["prompts"]) == 3 and all(len(t) == 4 for t in ref["tokens"])
    assert ref["architecture"] == "Qwen3ForCausalLM"
    # the KV-cache loop agrees with a full forward over the grown sequence
    import torch

    prompt = ref["prompts"][0]
    tokens, _ = hf_greedy(loaded.model, prompt, 4)
    seq = list(prompt)
    for _ in range(4):
        with torch.inference_mode():
            seq.append(int(loaded.model(torch.tensor([seq])).logits[0, -1].argmax()))
    assert tokens == seq[len(prompt):] == ref["tokens"][0]


def test_a_hanging_job_is_killed_with_its_children(tmp_path):
    pidfile = tmp_path / "pid"
    fake = tmp_path / "python"
    # stands in for vLLM's Python: starts a child, records both pids, never finishes
    fake.write_text(f"#!/bin/sh\nsleep 1000 &\necho $$ $! > {pidfile}\nwait\n")
    fake.chmod(0o755)
    start = time.monotonic()
    with pytest.raises(FastpruneError, match="did not finish in 2 s"):
        run_offline({"checkpoints": []}, str(fake), tmp_path / "work", ServerOptions(), timeout=2)
    assert time.monotonic() - start < 30
    pids = [int(p) for p in pidfile.read_text().split()]
    try:
        for pid in pids:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] \
                if Path(f"/proc/{pid}").exists() else "gone"
            assert state in ("gone", "Z")
    finally:  # a failure here must not leave a 1000 s sleep behind on the test machine
        for pid in pids:
            with contextlib.suppress(OSError):  # gone already; the cmdline check keeps a reused pid safe
                if b"sleep" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    os.kill(pid, signal.SIGKILL)


def test_a_failing_job_names_its_log(tmp_path):
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'vllm exploded' >&2\nexit 4\n")
    fake.chmod(0o755)
    with pytest.raises(FastpruneError, match=r"(?s)exit 4.*vllm exploded"):
        run_offline({"checkpoints": []}, str(fake), tmp_path / "work", ServerOptions(), timeout=20)
    assert sys.executable  # the real interpreter is never needed here
