"""fastprune::sample_cpu / sample_triton: schema, fake kernels, torch.compile tracing."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensorMode

from fastprune.ops import native, sample_plan, sample_ref

NATIVE = native.availability("cpu")
needs_native = pytest.mark.skipif(not NATIVE, reason=f"native CPU module unavailable: {NATIVE.reason}")
OPS = torch.ops.fastprune


def _args(b=5, v=37, seed=0):
    gen = torch.Generator().manual_seed(seed)
    rows = [(0.0, 0, 1.0), (0.8, 0, 1.0), (1.0, 4, 1.0), (1.2, 0, 0.7), (0.9, 9, 0.9)]
    temp, k, p = (torch.tensor(c, dtype=dt) for c, dt in
                  zip(zip(*rows[:b], strict=True), (torch.float32, torch.int64, torch.float32), strict=True))
    return torch.randn(b, v, generator=gen) * 3, temp, k, p, torch.rand(b, generator=gen)


@needs_native
@pytest.mark.parametrize("return_probs", [False, True])
def test_opcheck_native(return_probs):
    torch.library.opcheck(OPS.sample_cpu.default, (*_args(), return_probs))


@pytest.mark.parametrize("op", ["sample_cpu", "sample_triton"])
@pytest.mark.parametrize("mode", ["fake", "meta"])
@pytest.mark.parametrize("return_probs", [False, True])
def test_fake_and_meta_calls_give_ids_and_kept_probabilities(op, mode, return_probs):
    args = _args(b=4, v=29)
    if mode == "meta":
        ids, kept = getattr(OPS, op)(*(t.to("meta") for t in args), return_probs)
    else:
        with FakeTensorMode() as fake:
            ids, kept = getattr(OPS, op)(*(fake.from_tensor(t) for t in args), return_probs)
    assert tuple(ids.shape) == (4,) and ids.dtype == torch.int64
    assert tuple(kept.shape) == ((4, 29) if return_probs else (4, 0)) and kept.dtype == torch.float32


@needs_native
def test_compiled_plan_calls_the_custom_op_and_matches_the_reference():
    plan = sample_plan("cpu", "native")
    logits, temp, k, p, u = _args(seed=2)
    seen = []

    def record(gm, example_inputs):
        seen.extend(str(node.target) for node in gm.graph.nodes if node.op == "call_function")
        return gm.forward

    torch._dynamo.reset()
    got = torch.compile(lambda *a: plan(*a), backend=record, fullgraph=True)(logits, temp, k, p, u)
    assert any("sample_cpu" in s for s in seen), seen
    assert got.tolist() == sample_ref(logits, temp, k, p, u).tolist()


def test_opcheck_triton_in_the_interpreter():
    """Runs in a fresh process with TRITON_INTERPRET=1 (Triton fixes interpreter mode when first imported)."""
    pytest.importorskip("triton")
    code = ("import torch, fastprune.ops\n"
            "from tests.ops.test_sampling_ops import _args\n"
            "for rp in (False, True):\n"
            "    torch.library.opcheck(torch.ops.fastprune.sample_triton.default, (*_args(v=40), rp))\n"
            "print('opcheck ok')\n")
    env = {**os.environ, "TRITON_INTERPRET": "1", "CUDA_VISIBLE_DEVICES": ""}
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0 and "opcheck ok" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-3000:]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("return_probs", [False, True])
def test_opcheck_triton_on_a_gpu(return_probs):
    pytest.importorskip("triton")
    torch.library.opcheck(OPS.sample_triton.default, (*(t.cuda() for t in _args(v=300)), return_probs))
