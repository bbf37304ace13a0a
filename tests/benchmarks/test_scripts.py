"""run_all.sh and gpu_suite.sh parse, list their steps without running them, and name scripts that exist."""

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(script, *args, env=None):
    return subprocess.run(["bash", str(ROOT / "benchmarks" / script), *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=60)


@pytest.mark.parametrize("script, steps", [
    ("run_all.sh", ["boundary_stats", "calibrate", "generate", "generate_paper", "decode_ops", "sampling", "depth"]),
    ("gpu_suite.sh", ["tests", "fsdp2", "kernels", "calibrate", "decode", "depth"]),
])
def test_dry_run_lists_every_step_and_the_scripts_exist(script, steps):
    assert subprocess.run(["bash", "-n", str(ROOT / "benchmarks" / script)]).returncode == 0
    proc = _run(script, "--dry-run")
    assert proc.returncode == 0, proc.stderr
    listed = [line.split(":", 1)[0] for line in proc.stdout.splitlines() if not line.startswith("then:")]
    assert listed == steps
    for path in set(re.findall(r"benchmarks/[\w/]+\.py", proc.stdout)):
        assert (ROOT / path).is_file(), path


def test_gpu_suite_benchmarks_run_on_cuda_in_bf16():
    out = _run("gpu_suite.sh", "--dry-run").stdout
    for line in out.splitlines():
        if line.split(":")[0] in ("calibrate", "decode", "depth"):
            assert "--device cuda" in line and "bfloat16" in line and "llama-3.1-8b" in line
    assert "--drop-layers 8" in out  # 25% of Llama-3.1-8B's 32 layers


def test_gpu_suite_refuses_an_unknown_step():
    proc = _run("gpu_suite.sh", "--dry-run", env={"STEPS": "tests bogus"})
    assert proc.returncode == 2 and "unknown step 'bogus'" in proc.stderr
