"""fastprune::decode_attention_cpu: schema (caches declared mutated), fake kernel, torch.compile tracing."""

from __future__ import annotations

import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensorMode

from fastprune.ops import decode_attention_plan, decode_attention_ref, native

from .test_decode_attention import clone_case, make_case

NATIVE = native.availability("cpu")
needs_native = pytest.mark.skipif(not NATIVE, reason=f"native CPU module unavailable: {NATIVE.reason}")
OP = torch.ops.fastprune.decode_attention_cpu


def _op_args(case, window=0):
    norms = [case.get("q_norm"), case.get("k_norm")]
    eps = next((float(n[1]) for n in norms if n is not None), 0.0)
    return (case["q"], case["k_new"], case["v_new"], case["k_cache"], case["v_cache"], case["positions"],
            case["cos_table"], case["sin_table"], float(case["scale"]), window,
            *(n[0] if n is not None else None for n in norms), eps)


@needs_native
@pytest.mark.parametrize("norms", [False, True], ids=["plain", "qk_norm"])
@pytest.mark.parametrize("window", [0, 5])
def test_opcheck(norms, window):
    case = make_case(3, 9, 3, 10, norms=norms, seed=4)
    torch.library.opcheck(OP.default, _op_args(case, window))


@pytest.mark.parametrize("mode", ["fake", "meta"])
def test_fake_and_meta_calls_give_the_output_shape(mode):
    case = make_case(3, 6, 2, 8, norms=True, seed=5)
    if mode == "meta":
        case = {k: (v.to("meta") if isinstance(v, torch.Tensor) else (v[0].to("meta"), v[1]) if isinstance(v, tuple)
                    else v) for k, v in case.items()}
        out = OP(*_op_args(case))
    else:
        with FakeTensorMode() as mode_ctx:
            fake = {k: (mode_ctx.from_tensor(v) if isinstance(v, torch.Tensor)
                        else (mode_ctx.from_tensor(v[0]), v[1]) if isinstance(v, tuple) else v)
                    for k, v in case.items()}
            out = OP(*_op_args(fake))
    assert tuple(out.shape) == (3, 6, 8) and out.dtype == torch.float32


@needs_native
def test_compiled_plan_calls_the_custom_op_and_writes_the_caches():
    case = make_case(2, 4, 2, 8, norms=True, seed=6)
    plan = decode_attention_plan("cpu", [torch.float32], "native", norm_eps=[(case["q_norm"][1], case["k_norm"][1])])
    assert plan.backend == "native"
    seen = []

    def record(gm, example_inputs):
        seen.extend(str(node.target) for node in gm.graph.nodes if node.op == "call_function")
        return gm.forward

    got_in, want_in = clone_case(case), clone_case(case)
    torch._dynamo.reset()
    got = torch.compile(lambda **kw: plan(**kw), backend=record, fullgraph=True)(**got_in)
    assert any("decode_attention_cpu" in s for s in seen), seen
    want = decode_attention_ref(**want_in)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(got_in["k_cache"], want_in["k_cache"], rtol=1e-4, atol=1e-5)
    assert torch.equal(got_in["v_cache"], want_in["v_cache"])
