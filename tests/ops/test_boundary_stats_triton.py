"""The Triton kernel against the torch reference: on CPU through TRITON_INTERPRET=1 (in a subprocess, see
triton_interpreter_cases.py), on a GPU when one is present, and compiled for sm_90 without a GPU so
GPU-only lowering errors show up on CPU machines too."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from fastprune.ops import boundary_stats

triton = pytest.importorskip("triton", reason="triton is not installed")

HERE = Path(__file__).resolve().parent


def test_triton_interpreter_cases():
    """Runs triton_interpreter_cases.py in a fresh process with TRITON_INTERPRET=1 (see its docstring)."""
    env = {**os.environ, "TRITON_INTERPRET": "1", "CUDA_VISIBLE_DEVICES": ""}
    cases = str(HERE / "triton_interpreter_cases.py")
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", cases]
    proc = subprocess.run(command, cwd=HERE.parents[1], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"interpreter cases failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
    assert " passed" in proc.stdout and "skipped" not in proc.stdout, proc.stdout[-2000:]


def test_triton_compiles_for_sm90_with_mma(monkeypatch):
    """Lowers the bfloat16 kernel to a Hopper cubin (no GPU needed) and checks it uses the MMA units."""
    monkeypatch.setenv("TRITON_DEFAULT_FP_FUSION", "1")  # the default, stated (silences a deprecation notice)
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    from fastprune.kernels import boundary_stats_triton as module

    pointers = ["weight_ptr", "cos_ptr", "ang_ptr", "norm_ptr", "update_ptr", "wsum_ptr"]
    signature = {"hidden_ptr": "*bf16", "pair_i_ptr": "*i32", "pair_j_ptr": "*i32"}
    signature |= {name: "*fp32" for name in pointers}
    signature |= {name: "i32" for name in ("K", "N", "D", "stride_n", "tokens_per_program")}
    signature |= {"stride_k": "i64"}
    constexprs = {"K_PAD": 32, "BK": 32, "BLOCK_D": 64, "DOT_FP32": False, "SINGLE_TILE": True, "EPS": 1e-8}
    signature |= {name: "constexpr" for name in constexprs}
    source = ASTSource(triton.jit(module._boundary_stats_kernel), signature, constexprs)
    compiled = triton.compile(source, target=GPUTarget("cuda", 90, 32), options={"num_warps": 8})
    ptx = compiled.asm["ptx"]
    assert re.search(r"\b(wgmma|mma)\.", ptx), "bfloat16 Gram tiles should run on tensor cores"
    assert ".local" not in ptx, "register spills"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("backend", ["triton", "native"])
@pytest.mark.parametrize("shape", [(7, 129, 577), (33, 67, 64), (31, 2048, 576), (131, 40, 96)], ids=str)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_cuda_backends_match_ref(backend, shape, dtype, residual_hidden, token_weights, assert_stats_close):
    hidden = residual_hidden(*shape, dtype=dtype, seed=1).cuda()
    weight = token_weights(shape[1], seed=1).cuda()
    got = boundary_stats(hidden, weight, backend=backend)
    assert_stats_close(got, hidden.cpu(), weight.cpu())
