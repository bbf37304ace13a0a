"""fastprune.ops.plan: how a backend is chosen once (auto falls back with a reason, explicit raises), and that
a plan's calls resolve nothing."""

from __future__ import annotations

import sys

import pytest
import torch

import fastprune.ops  # noqa: F401  (every op module loaded, so forbid_resolution reaches them all)
from fastprune.ops import (
    BackendUnavailableError,
    Projection,
    boundary_stats_plan,
    decode_attention_plan,
    fused_linears_plan,
    fused_linears_ref,
    native,
    sample_plan,
    sample_ref,
)
from fastprune.ops.plan import choose, eager_or_op

NATIVE = native.availability("cpu")
needs_native = pytest.mark.skipif(not NATIVE, reason=f"native CPU module unavailable: {NATIVE.reason}")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    monkeypatch.delenv("FASTPRUNE_BACKEND", raising=False)


def forbid_resolution(monkeypatch):
    """From now on any backend resolution in fastprune.ops raises (a plan must not resolve per call)."""

    def refuse(*args, **kwargs):
        raise AssertionError("a backend was resolved after the plan was built")

    for name, module in list(sys.modules.items()):
        if name.startswith("fastprune.ops"):
            for attr in ("choose", "resolve_backend", "requested_backend", "backend_availability"):
                if hasattr(module, attr):
                    monkeypatch.setattr(module, attr, refuse)


@needs_native
def test_auto_falls_back_with_the_reason_and_explicit_raises_naming_the_request(monkeypatch):
    choice = choose("some_op", "cpu", None, ineligible=lambda name: "tensors are float64")
    assert (choice.backend, choice.requested, choice.explicit) == ("torch", "auto", False)
    assert choice.reason == "tensors are float64"
    with pytest.raises(BackendUnavailableError, match=r"backend='native' requested for some_op but tensors are"):
        choose("some_op", "cpu", "native", ineligible=lambda name: "tensors are float64")
    monkeypatch.setenv("FASTPRUNE_BACKEND", "native")
    with pytest.raises(BackendUnavailableError, match=r"FASTPRUNE_BACKEND=native requested for some_op"):
        choose("some_op", "cpu", None, ineligible=lambda name: "tensors are float64")
    ok = choose("some_op", "cpu", None, ineligible=lambda name: None)
    assert (ok.backend, ok.explicit, ok.reason, ok.source) == ("native", True, "", "FASTPRUNE_BACKEND=native")


def test_torch_is_never_checked_for_eligibility():
    calls = []
    choice = choose("some_op", "cpu", "torch", ineligible=lambda name: calls.append(name) or "never")
    assert choice.backend == "torch" and calls == [] and choice.reason == ""


def test_eager_or_op_runs_the_body_outside_torch_compile():
    calls = []
    call = eager_or_op(lambda x: calls.append("body") or x, lambda x: calls.append("op") or x)
    assert call(3) == 3 and calls == ["body"]


@needs_native
def test_plans_record_their_backend_and_resolve_nothing_per_call(monkeypatch):
    x, w = torch.randn(3, 16), torch.randn(5, 16)
    linears = fused_linears_plan(x, [Projection(w)])
    sampler = sample_plan("cpu")
    stats = boundary_stats_plan("cpu")
    attention = decode_attention_plan("cpu", [torch.float32])
    assert [p.backend for p in (linears, sampler, stats, attention)] == ["native"] * 4
    assert "backend='native'" in repr(linears) and "requested='auto'" in repr(linears)
    forbid_resolution(monkeypatch)
    torch.testing.assert_close(linears(x, [Projection(w)])[0], fused_linears_ref(x, [Projection(w)])[0],
                               rtol=1e-5, atol=1e-5)
    logits, u = torch.randn(2, 11), torch.rand(2)
    params = (torch.tensor([0.9, 1.1]), torch.tensor([0, 3]), torch.tensor([1.0, 0.8]))
    assert sampler(logits, *params, u).tolist() == sample_ref(logits, *params, u).tolist()
    assert stats(torch.randn(3, 4, 8), torch.ones(4)).weight_sum == 4


@needs_native
def test_auto_row_limit_and_its_torch_fallbacks():
    x, w = torch.randn(3, 16), torch.randn(5, 16)
    auto = fused_linears_plan(x, [Projection(w)])
    assert auto.backend == "native" and auto.backend_for(64) == "native" and auto.backend_for(65) == "torch"
    assert auto.backend_for(1, in_features=0) == "torch"
    assert fused_linears_plan(x, [Projection(w)], backend="torch").backend_for(1) == "torch"
    bf16 = fused_linears_plan(x.bfloat16(), [Projection(w.bfloat16())])
    assert bf16.backend == "torch" and "torch.bfloat16" in bf16.choice.reason and not bf16.choice.explicit


@needs_native
def test_explicit_native_has_no_row_limit_unless_given():
    x, w = torch.randn(3, 16), torch.randn(5, 16)
    assert fused_linears_plan(x, [Projection(w)], backend="native").backend_for(10_000) == "native"
    capped = fused_linears_plan(x, [Projection(w)], backend="native", native_rows=8)
    assert capped.backend_for(8) == "native" and capped.backend_for(9) == "torch"
    residual = torch.randn(9, 5)
    want = residual + fused_linears_ref(torch.ones(9, 16), [Projection(w)])[0]
    got = capped(torch.ones(9, 16), [Projection(w)], residual=residual)  # over the cap: torch, still in place
    assert got[0] is residual and torch.allclose(residual, want)


def test_decode_attention_plan_sends_differing_norm_eps_to_torch_even_when_native_is_asked():
    plan = decode_attention_plan("cpu", [torch.float32], "native", norm_eps=[(1e-6, 1e-6), (1e-6, 1e-5)])
    assert plan.backend == "torch" and "different eps" in plan.choice.reason and plan.choice.explicit
