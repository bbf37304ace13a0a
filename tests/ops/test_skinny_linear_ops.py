"""fastprune::skinny_linear_cpu / skinny_linear_accumulate_cpu: schema, fake kernels, torch.compile tracing."""

from __future__ import annotations

import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensorMode

from fastprune.ops import Projection, RMSNormSpec, fused_linears_plan, fused_linears_ref, native

NATIVE = native.availability("cpu")
needs_native = pytest.mark.skipif(not NATIVE, reason=f"native CPU module unavailable: {NATIVE.reason}")
OPS = torch.ops.fastprune


def _args(m=3, k=17, seed=0):
    """x [m, k] and three projections (plain, biased, gated with both biases) of odd widths, plus a norm."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(m, k, generator=gen)
    weights = [torch.randn(n, k, generator=gen) for n in (5, 23, 9)]
    biases = [None, torch.randn(23, generator=gen), torch.randn(9, generator=gen)]
    up_weights = [None, None, torch.randn(9, k, generator=gen)]
    up_biases = [None, None, torch.randn(9, generator=gen)]
    return x, weights, biases, up_weights, up_biases, 1.0 + 0.1 * torch.randn(k, generator=gen), 1e-5


@needs_native
@pytest.mark.parametrize("use_norm", [False, True], ids=["raw", "rmsnorm"])
def test_opcheck_skinny_linear(use_norm):
    x, w, b, uw, ub, norm, eps = _args()
    torch.library.opcheck(OPS.skinny_linear_cpu.default, (x, w, b, uw, ub, norm if use_norm else None, eps))


@needs_native
def test_opcheck_skinny_linear_accumulate():
    x, w, b, uw, ub, norm, eps = _args(m=2, k=9, seed=1)
    residual = torch.randn(2, 9)
    torch.library.opcheck(OPS.skinny_linear_accumulate_cpu.default, (x, w[2], b[2], uw[2], ub[2], norm, eps, residual))


@pytest.mark.parametrize("mode", ["fake", "meta"])
def test_fake_and_meta_calls_give_float32_outputs_of_each_width(mode):
    def run():
        x, w, b, uw, ub, norm, eps = _args(m=3, k=17)
        if mode == "meta":
            x, w, norm = x.to("meta"), [t.to("meta") for t in w], norm.to("meta")
            b, uw, ub = ([None if t is None else t.to("meta") for t in ts] for ts in (b, uw, ub))
        outs = OPS.skinny_linear_cpu(x.view(1, 3, 17), w, b, uw, ub, norm, eps)
        residual = torch.empty(3, 9, device=x.device)
        assert OPS.skinny_linear_accumulate_cpu(x, w[2], b[2], uw[2], ub[2], None, eps, residual) is None
        return outs

    if mode == "fake":
        with FakeTensorMode():
            outs = run()
    else:
        outs = run()
    assert [tuple(o.shape) for o in outs] == [(1, 3, 5), (1, 3, 23), (1, 3, 9)]
    assert all(o.dtype == torch.float32 and o.device.type == ("meta" if mode == "meta" else "cpu") for o in outs)


@needs_native
def test_compiled_plan_calls_the_custom_op_and_matches_eager():
    x, w, b, uw, ub, norm, eps = _args(m=2, k=33, seed=3)
    projections = [Projection(*p) for p in zip(w, b, uw, ub, strict=True)]
    spec = RMSNormSpec(norm, eps)
    plan = fused_linears_plan(x, projections, spec, backend="native")
    seen = []

    def record(gm, example_inputs):
        seen.extend(str(node.target) for node in gm.graph.nodes if node.op == "call_function")
        return gm.forward

    def step(x, residual):
        outs = plan(x, projections, spec)
        plan(x, projections[2:], spec, residual=residual)
        return outs[0], residual

    torch._dynamo.reset()
    got_out, got_res = torch.compile(step, backend=record, fullgraph=True)(x, torch.zeros(2, 9))
    assert any("skinny_linear_cpu" in s for s in seen) and any("skinny_linear_accumulate_cpu" in s for s in seen), seen
    want = fused_linears_ref(x, projections, spec)
    torch.testing.assert_close(got_out, want[0], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(got_res, want[2], rtol=1e-4, atol=1e-5)
