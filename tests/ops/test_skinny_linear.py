"""fastprune.ops.skinny_linear: the native CPU kernel against the torch reference, dispatch and argument checks."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import fastprune.ops.skinny_linear as sl
from fastprune.errors import FastpruneError
from fastprune.ops import native
from fastprune.ops.availability import BackendUnavailableError
from fastprune.ops.skinny_linear import (
    MAX_NATIVE_ROWS,
    Projection,
    RMSNormSpec,
    fused_linears,
    fused_linears_native,
    fused_linears_ref,
    skinny_linear,
    swiglu_linear,
)

from .threads import with_threads

NATIVE = native.availability("cpu")
CPU_INFO = native.native_build_info()["cpu"]
ISAS = CPU_INFO.get("isas_supported") or []
needs_native = pytest.mark.skipif(not NATIVE, reason=f"native CPU module unavailable: {NATIVE.reason}")

ROWS = [1, 2, 3, 5, 7, 8, 9, 13, 16, 17, 33]
IN_FEATURES = [1, 3, 15, 16, 17, 63, 576 + 5]
# 1000 rows of weight are 42 row blocks of 24: more than one block per thread, and not a multiple of 24.
OUT_FEATURES = [1, 23, 24, 25, 97, 1000]
# Every projection kind once: (bias, gated, gate bias, up bias).
KINDS = {
    "plain": (False, False, False),
    "bias": (True, False, False),
    "gated": (False, True, False),
    "gated_bias": (True, True, False),
    "gated_up_bias": (False, True, True),
    "gated_both_biases": (True, True, True),
}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    """No backend or instruction set forced from the caller's environment."""
    monkeypatch.delenv("FASTPRUNE_BACKEND", raising=False)
    monkeypatch.delenv("FASTPRUNE_CPU_ISA", raising=False)


@pytest.fixture(params=ISAS or ["none"])
def isa(request, monkeypatch):
    """Runs the test once per compiled instruction set this CPU supports (FASTPRUNE_CPU_ISA)."""
    if not NATIVE:
        pytest.skip(f"native CPU module unavailable: {NATIVE.reason}")
    monkeypatch.setenv("FASTPRUNE_CPU_ISA", request.param)
    return request.param


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _projection(n: int, k: int, kind: str, gen: torch.Generator) -> Projection:
    bias, gated, up_bias = KINDS[kind]
    scale = k**-0.5
    return Projection(
        torch.randn(n, k, generator=gen) * scale,
        torch.randn(n, generator=gen) if bias else None,
        torch.randn(n, k, generator=gen) * scale if gated else None,
        torch.randn(n, generator=gen) if up_bias else None,
    )


def _norm(k: int, gen: torch.Generator) -> RMSNormSpec:
    return RMSNormSpec(1.0 + 0.2 * torch.randn(k, generator=gen), 1e-6)


def _all_kinds(k: int, gen: torch.Generator) -> list[Projection]:
    """One projection per entry of OUT_FEATURES, cycling through every kind (q, k, v, gate/up alike)."""
    kinds = list(KINDS)
    return [_projection(n, k, kinds[i % len(kinds)], gen) for i, n in enumerate(OUT_FEATURES)]


def _assert_matches(got: list[torch.Tensor], want: list[torch.Tensor], what: str = "") -> None:
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g.shape == w.shape and g.dtype == w.dtype, f"{what} output {i}: {g.shape} {g.dtype} vs {w.shape}"
        atol = 1e-5 * float(w.abs().max()) + 1e-5 if w.numel() else 1e-5
        torch.testing.assert_close(g, w, rtol=1e-4, atol=atol, msg=lambda m, i=i: f"{what} output {i}: {m}")



# ---------------------------------------------------------------------------------------------------------
# native against the reference


@needs_native
@pytest.mark.parametrize("use_norm", [False, True], ids=["raw", "rmsnorm"])
@pytest.mark.parametrize("k", IN_FEATURES)
@pytest.mark.parametrize("m", ROWS)
def test_native_matches_ref_every_kind_in_one_call(m, k, use_norm):
    gen = _gen(1000 * m + k)
    x = torch.randn(m, k, generator=gen) * 3
    projections = _all_kinds(k, gen)
    norm = _norm(k, gen) if use_norm else None
    _assert_matches(fused_linears(x, projections, norm, backend="native"), fused_linears_ref(x, projections, norm),
                    f"m={m} k={k}")


@needs_native
@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("n", OUT_FEATURES)
@pytest.mark.parametrize("m", [1, 3, 8, 17])
def test_native_single_projection(m, n, kind):
    k = 63
    gen = _gen(7 * n + m)
    x = torch.randn(m, k, generator=gen)
    p = _projection(n, k, kind, gen)
    got = fused_linears(x, [p], backend="native")
    _assert_matches(got, fused_linears_ref(x, [p]), f"m={m} n={n} {kind}")
    assert got[0].shape == (m, n)


@needs_native
@pytest.mark.parametrize("m", [1, 4, 9])
def test_skinny_and_swiglu_wrappers_match_torch(m):
    gen = _gen(m)
    k, n = 577, 97
    x = torch.randn(m, k, generator=gen)
    w, up = torch.randn(n, k, generator=gen) * 0.05, torch.randn(n, k, generator=gen) * 0.05
    b, ub = torch.randn(n, generator=gen), torch.randn(n, generator=gen)
    for backend in ("native", "torch", None):
        _assert_matches([skinny_linear(x, w, backend=backend)], [F.linear(x, w)], f"{backend} no bias")
        _assert_matches([skinny_linear(x, w, b, backend=backend)], [F.linear(x, w, b)], f"{backend} bias")
        want = F.silu(F.linear(x, w, b)) * F.linear(x, up, ub)
        _assert_matches([swiglu_linear(x, w, up, b, ub, backend=backend)], [want], f"{backend} swiglu")
        want = F.silu(F.linear(x, w)) * F.linear(x, up)
        _assert_matches([swiglu_linear(x, w, up, backend=backend)], [want], f"{backend} swiglu no bias")


@needs_native
def test_large_gated_values_stay_within_relative_tolerance():
    # Products of two linears of large inputs: |out| ~ 1e4, so the absolute tolerance scales with it.
    gen = _gen(3)
    k = 581
    x = torch.randn(5, k, generator=gen) * 30
    p = _projection(97, k, "gated_both_biases", gen)
    _assert_matches(fused_linears(x, [p], backend="native"), fused_linears_ref(x, [p]))


@needs_native
def test_projections_given_as_tuples():
    gen = _gen(4)
    x = torch.randn(3, 17, generator=gen)
    w, b = torch.randn(25, 17, generator=gen), torch.randn(25, generator=gen)
    _assert_matches(fused_linears(x, [(w, b), (w,)], backend="native"), [F.linear(x, w, b), F.linear(x, w)])


# ---------------------------------------------------------------------------------------------------------
# instruction sets and threads


@pytest.mark.parametrize("use_norm", [False, True], ids=["raw", "rmsnorm"])
@pytest.mark.parametrize("k", [1, 15, 16, 17, 581])
@pytest.mark.parametrize("m", [1, 3, 8, 13, 17])
def test_every_isa_matches_ref(isa, m, k, use_norm):
    gen = _gen(31 * m + k)
    x = torch.randn(m, k, generator=gen)
    projections = _all_kinds(k, gen)
    norm = _norm(k, gen) if use_norm else None
    got = fused_linears(x, projections, norm, backend="native")
    _assert_matches(got, fused_linears_ref(x, projections, norm), f"{isa} m={m} k={k}")


@needs_native
def test_isa_env_var_is_read_at_each_call(monkeypatch):
    x, w = torch.randn(2, 8), torch.randn(3, 8)
    monkeypatch.setenv("FASTPRUNE_CPU_ISA", "sse1")
    with pytest.raises(RuntimeError, match="FASTPRUNE_CPU_ISA=sse1"):
        fused_linears_native(x, [Projection(w)])
    monkeypatch.delenv("FASTPRUNE_CPU_ISA")
    _assert_matches(fused_linears_native(x, [Projection(w)]), [F.linear(x, w)])


@needs_native
@pytest.mark.parametrize("use_norm", [False, True], ids=["raw", "rmsnorm"])
@pytest.mark.parametrize("m", [1, 5, 8, 16])
def test_one_and_two_threads_agree_bitwise(m, use_norm):
    # 1000 x 581 floats (2.3 MB, 42 row blocks) is well above the 64 KiB per thread the kernel needs to
    # use a second thread; the other projections make thread ranges cross projection boundaries.
    gen = _gen(m)
    k = 581
    x = torch.randn(m, k, generator=gen)
    projections = _all_kinds(k, gen)
    norm = _norm(k, gen) if use_norm else None
    one = with_threads(1, lambda: fused_linears(x, projections, norm, backend="native"))
    two = with_threads(2, lambda: fused_linears(x, projections, norm, backend="native"))
    for i, (a, b) in enumerate(zip(one, two, strict=True)):
        assert torch.equal(a, b), f"output {i}: max diff {(a - b).abs().max()}"
    _assert_matches(two, fused_linears_ref(x, projections, norm))


# ---------------------------------------------------------------------------------------------------------
# layouts


@needs_native
@pytest.mark.parametrize("m", [1, 2, 9])
def test_strided_x_rows(m):
    gen = _gen(m)
    k = 63
    wide = torch.randn(m, k + 13, generator=gen)
    x = wide[:, 5:5 + k]
    assert x.stride(0) == k + 13 and x.data_ptr() != wide.data_ptr()
    projections = [_projection(n, k, kind, gen) for n, kind in ((23, "bias"), (97, "gated_both_biases"))]
    _assert_matches(fused_linears(x, projections, backend="native"), fused_linears_ref(x.contiguous(), projections))


@needs_native
def test_x_with_non_unit_stride_along_k():
    gen = _gen(5)
    x = torch.randn(3, 2 * 17, generator=gen)[:, ::2]
    assert x.stride(-1) == 2
    p = _projection(25, 17, "gated_bias", gen)
    _assert_matches(fused_linears(x, [p], backend="native"), fused_linears_ref(x.contiguous(), [p]))


@needs_native
@pytest.mark.parametrize("layout", ["contiguous", "sliced", "transposed"])
def test_batched_x(layout):
    gen = _gen(6)
    b, q, k = 2, 3, 17
    if layout == "contiguous":
        x = torch.randn(b, q, k, generator=gen)
    elif layout == "sliced":
        x = torch.randn(b, q, k + 7, generator=gen)[..., 2:2 + k]
    else:
        x = torch.randn(q, b, k, generator=gen).transpose(0, 1)
    projections = [_projection(23, k, "bias", gen), _projection(97, k, "gated_up_bias", gen)]
    norm = _norm(k, gen)
    got = fused_linears(x, projections, norm, backend="native")
    assert [tuple(t.shape) for t in got] == [(b, q, 23), (b, q, 97)]
    _assert_matches(got, fused_linears_ref(x.contiguous(), projections, norm))


def _non_contiguous_projections(k: int, n: int, gen: torch.Generator) -> dict[str, Projection]:
    transposed = torch.randn(k, n, generator=gen).t()  # [n, k] with stride (1, n): copied for the kernel
    wide = torch.randn(n, k + 9, generator=gen)[:, 4:4 + k]  # unit stride, row stride k + 9: used in place
    up_contig = torch.randn(n, k, generator=gen)
    strided_bias = torch.randn(2 * n, generator=gen)[::2]  # copied for the kernel
    assert not transposed.is_contiguous() and wide.stride(0) == k + 9 and strided_bias.stride(0) == 2
    return {
        "transposed_weight": Projection(transposed, strided_bias),
        "wide_weight": Projection(wide, None),
        "gate_up_row_strides_differ": Projection(wide, strided_bias, up_contig, None),
        "transposed_gate_wide_up": Projection(transposed, None, wide, strided_bias),
    }


def _contiguous(p: Projection) -> Projection:
    return Projection(*(t.contiguous() if t is not None else None for t in p))


@needs_native
@pytest.mark.parametrize("case", ["transposed_weight", "wide_weight", "gate_up_row_strides_differ",
                                  "transposed_gate_wide_up"])
def test_non_contiguous_weights_and_biases(case):
    gen = _gen(8)
    k, n, m = 63, 97, 5
    x = torch.randn(m, k, generator=gen)
    p = _non_contiguous_projections(k, n, gen)[case]
    _assert_matches(fused_linears(x, [p], backend="native"), fused_linears_ref(x, [_contiguous(p)]))


@needs_native
def test_non_contiguous_tensors_in_an_earlier_projection():
    gen = _gen(8)
    k, n, m = 63, 97, 5
    x = torch.randn(m, k, generator=gen)
    projections = list(_non_contiguous_projections(k, n, gen).values())
    want = fused_linears_ref(x, [_contiguous(p) for p in projections])
    _assert_matches(fused_linears(x, projections, backend="native"), want)


@needs_native
def test_one_row_weight_from_a_wider_matrix():
    gen = _gen(9)
    x = torch.randn(4, 17, generator=gen)
    w = torch.randn(5, 30, generator=gen)[2:3, 3:20]  # n = 1
    _assert_matches(fused_linears(x, [Projection(w)], backend="native"), [F.linear(x, w.contiguous())])


# ---------------------------------------------------------------------------------------------------------
# residual, NaN, empty


@needs_native
@pytest.mark.parametrize("kind", ["plain", "bias", "gated_both_biases"])
@pytest.mark.parametrize("m", [1, 3, 9])
def test_residual_accumulates_in_place(m, kind):
    gen = _gen(m)
    k, n = 63, 97
    x = torch.randn(m, k, generator=gen)
    p = _projection(n, k, kind, gen)
    residual = torch.randn(m, n, generator=gen)
    before = residual.clone()
    out = fused_linears_native(x, [p], residual=residual)
    assert len(out) == 1 and out[0] is residual
    _assert_matches([residual], [before + fused_linears_ref(x, [p])[0]])


@needs_native
def test_residual_with_batched_x_and_norm():
    gen = _gen(10)
    x = torch.randn(2, 3, 17, generator=gen)
    p, norm = _projection(25, 17, "bias", gen), _norm(17, gen)
    residual = torch.randn(2, 3, 25, generator=gen)
    before = residual.clone()
    fused_linears_native(x, [p], norm, residual=residual)
    _assert_matches([residual], [before + fused_linears_ref(x, [p], norm)[0]])


@needs_native
def test_residual_errors():
    x, w = torch.randn(3, 8), torch.randn(5, 8)
    with pytest.raises(FastpruneError, match="one projection"):
        fused_linears_native(x, [Projection(w), Projection(w)], residual=torch.zeros(3, 5))
    with pytest.raises(FastpruneError, match=r"\(3, 4\) for 3 x 5"):
        fused_linears_native(x, [Projection(w)], residual=torch.zeros(3, 4))
    with pytest.raises(FastpruneError, match="contiguous"):
        fused_linears_native(x, [Projection(w)], residual=torch.zeros(5, 3).t())


@needs_native
@pytest.mark.parametrize("column", [3, 580], ids=["vector_part", "k_tail"])
@pytest.mark.parametrize("use_norm", [False, True], ids=["raw", "rmsnorm"])
def test_nan_in_x_propagates_to_its_row_only(column, use_norm):
    gen = _gen(11)
    m, k, bad = 5, 581, 2
    x = torch.randn(m, k, generator=gen)
    x[bad, column] = float("nan")
    projections = [_projection(23, k, "bias", gen), _projection(97, k, "gated_both_biases", gen),
                   _projection(1000, k, "plain", gen)]
    norm = _norm(k, gen) if use_norm else None
    got = with_threads(2, lambda: fused_linears(x, projections, norm, backend="native"))
    others = [i for i in range(m) if i != bad]
    for i, y in enumerate(got):
        assert torch.isnan(y[bad]).all(), f"output {i}: NaN row has non-NaN values"
        assert torch.isfinite(y[others]).all(), f"output {i}: NaN leaked into other rows"
    clean = x[others]
    _assert_matches([y[others] for y in got], fused_linears_ref(clean, projections, norm))


@pytest.mark.parametrize("backend", [pytest.param("native", marks=needs_native), "torch", None])
def test_zero_rows(backend):
    gen = _gen(12)
    k = 17
    projections = [_projection(23, k, "bias", gen), _projection(97, k, "gated_both_biases", gen)]
    got = fused_linears(torch.empty(0, k), projections, _norm(k, gen), backend=backend)
    assert [tuple(t.shape) for t in got] == [(0, 23), (0, 97)]
    assert all(t.dtype == torch.float32 for t in got)
    got = fused_linears(torch.empty(2, 0, k), projections, backend=backend)
    assert [tuple(t.shape) for t in got] == [(2, 0, 23), (2, 0, 97)]


@pytest.mark.parametrize("backend", [pytest.param("native", marks=needs_native), None])
def test_zero_in_features(backend):
    gen = _gen(14)
    x, w, b = torch.randn(3, 0, generator=gen), torch.randn(5, 0, generator=gen), torch.randn(5, generator=gen)
    got = fused_linears(x, [Projection(w, b)], backend=backend)
    _assert_matches(got, [b.expand(3, 5)])


# ---------------------------------------------------------------------------------------------------------
# dispatch


@pytest.fixture
def spies(monkeypatch):
    """Records which implementation fused_linears calls: a list of "native" / "torch"."""
    calls: list[str] = []
    real_native, real_ref = sl.fused_linears_native, sl.fused_linears_ref

    def spy_native(*args, **kwargs):
        calls.append("native")
        return real_native(*args, **kwargs)

    def spy_ref(*args, **kwargs):
        calls.append("torch")
        return real_ref(*args, **kwargs)

    monkeypatch.setattr(sl, "fused_linears_native", spy_native)
    monkeypatch.setattr(sl, "fused_linears_ref", spy_ref)
    return calls


@needs_native
@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ((1, 16), "native"),
        ((MAX_NATIVE_ROWS, 16), "native"),
        ((MAX_NATIVE_ROWS + 1, 16), "torch"),
        ((2, MAX_NATIVE_ROWS // 2, 16), "native"),
        ((3, MAX_NATIVE_ROWS // 2, 16), "torch"),
        ((4 * MAX_NATIVE_ROWS, 16), "torch"),
    ],
    ids=str,
)
@pytest.mark.parametrize("backend", [None, "auto"])
def test_auto_picks_native_for_few_rows_only(spies, backend, shape, expected):
    x, w = torch.randn(*shape), torch.randn(5, 16)
    out = fused_linears(x, [Projection(w)], backend=backend)
    assert spies == [expected]
    _assert_matches(out, [F.linear(x, w)])


@needs_native
def test_explicit_backends_ignore_the_row_limit(spies):
    x, w = torch.randn(MAX_NATIVE_ROWS + 1, 16), torch.randn(5, 16)
    fused_linears(x, [Projection(w)], backend="native")
    fused_linears(x[:1], [Projection(w)], backend="torch")
    assert spies == ["native", "torch"]


@pytest.mark.parametrize("gated", [False, True], ids=["plain", "gated"])
def test_auto_sends_bfloat16_to_torch(spies, gated):
    gen = _gen(13)
    x, w, b = (t.bfloat16() for t in (torch.randn(3, 16, generator=gen), torch.randn(5, 16, generator=gen),
                                      torch.randn(5, generator=gen)))
    p = Projection(w, b, w.flip(0), b) if gated else Projection(w, b)
    for backend in (None, "auto"):
        out = fused_linears(x, [p], backend=backend)
        want = F.linear(x, w, b)
        if gated:
            want = F.silu(want) * F.linear(x, w.flip(0), b)
        assert out[0].dtype == torch.bfloat16 and torch.equal(out[0], want)
    assert spies == ["torch", "torch"]


@pytest.mark.parametrize("where", ["x", "weight", "bias", "up_weight", "norm"])
def test_auto_decides_torch_when_any_tensor_is_not_float32(where):
    tensors = {"x": torch.randn(3, 16), "weight": torch.randn(5, 16), "bias": torch.randn(5),
               "up_weight": torch.randn(5, 16), "norm": torch.ones(16)}
    tensors[where] = tensors[where].bfloat16()
    p = Projection(tensors["weight"], tensors["bias"], tensors["up_weight"])
    norm = RMSNormSpec(tensors["norm"], 1e-6)
    reason = sl.native_eligible(tensors["x"], [p], norm)
    assert reason is not None and "torch.bfloat16" in reason
    assert sl._choose(tensors["x"], [p], norm, None) == "torch"
    assert sl._choose(tensors["x"], [p], norm, "auto") == "torch"


@needs_native
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float64], ids=str)
def test_explicit_native_rejects_other_dtypes(dtype):
    x, w = torch.randn(3, 16, dtype=dtype), torch.randn(5, 16, dtype=dtype)
    with pytest.raises(BackendUnavailableError, match=rf"backend='native'.*{dtype}"):
        fused_linears(x, [Projection(w)], backend="native")
    with pytest.raises(BackendUnavailableError, match=str(dtype)):
        skinny_linear(x, w, backend="native")


@needs_native
def test_explicit_native_rejects_a_bfloat16_weight_among_float32():
    x, w = torch.randn(3, 16), torch.randn(5, 16)
    with pytest.raises(BackendUnavailableError, match="torch.bfloat16"):
        fused_linears(x, [Projection(w), Projection(w.bfloat16())], backend="native")


def test_env_forces_torch(spies, monkeypatch):
    monkeypatch.setenv("FASTPRUNE_BACKEND", "torch")
    x, w = torch.randn(2, 16), torch.randn(5, 16)
    out = fused_linears(x, [Projection(w)])
    skinny_linear(x, w)
    swiglu_linear(x, w, w)
    assert spies == ["torch"] * 3
    assert torch.equal(out[0], F.linear(x, w))


@needs_native
def test_argument_overrides_env(spies, monkeypatch):
    monkeypatch.setenv("FASTPRUNE_BACKEND", "torch")
    fused_linears(torch.randn(2, 16), [Projection(torch.randn(5, 16))], backend="native")
    assert spies == ["native"]


def test_backend_without_implementation_is_an_error():
    with pytest.raises(BackendUnavailableError, match="no triton implementation"):
        fused_linears(torch.randn(2, 16), [Projection(torch.randn(5, 16))], backend="triton")


# ---------------------------------------------------------------------------------------------------------
# argument checks (before any backend runs, so for every backend)


def _bad_cases():
    w, b = torch.randn(5, 16), torch.randn(5)
    return {
        "k_mismatch": ([Projection(torch.randn(5, 15))], None, r"projection 0 weight must be \[out, 16\].*\(5, 15\)"),
        "weight_not_2d": ([Projection(torch.randn(80))], None, r"weight must be \[out, 16\]"),
        "up_k_mismatch": ([Projection(w, None, torch.randn(5, 17))], None, r"up_weight must be \[out, 16\]"),
        "bias_length": ([Projection(w), Projection(w, torch.randn(4))], None, r"projection 1 bias .* \[5\].*\(4,\)"),
        "up_bias_length": ([Projection(w, b, w, torch.randn(6))], None, r"bias for up_weight must be \[5\]"),
        "gate_up_shapes": ([Projection(w, None, torch.randn(6, 16))], None, r"gate \(5, 16\) and up \(6, 16\)"),
        "up_bias_without_up": ([Projection(w, b, None, b)], None, "up_bias but no up_weight"),
        "norm_length": ([Projection(w)], RMSNormSpec(torch.ones(15), 1e-6), r"norm weight must be \[16\].*\(15,\)"),
        "no_projections": ([], None, "no projections"),
    }


@pytest.mark.parametrize("backend", ["torch", pytest.param("native", marks=needs_native), None])
@pytest.mark.parametrize("case", list(_bad_cases()))
def test_bad_arguments_raise_clear_errors(case, backend):
    projections, norm, message = _bad_cases()[case]
    with pytest.raises(FastpruneError, match=message):
        fused_linears(torch.randn(3, 16), projections, norm, backend=backend)


def test_scalar_x_is_an_error():
    with pytest.raises(FastpruneError, match="at least one dimension"):
        fused_linears(torch.tensor(1.0), [Projection(torch.randn(5, 1))])


@needs_native
def test_native_asked_through_the_environment_is_not_silently_dropped(monkeypatch):
    monkeypatch.setenv("FASTPRUNE_BACKEND", "native")
    x, w = torch.randn(2, 8, dtype=torch.bfloat16), torch.randn(4, 8, dtype=torch.bfloat16)
    with pytest.raises(BackendUnavailableError, match="FASTPRUNE_BACKEND=native.*bfloat16"):
        fused_linears(x, [Projection(w)])
