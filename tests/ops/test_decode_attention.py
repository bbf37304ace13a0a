"""fastprune.ops.decode_attention: the native CPU kernel against the torch reference, caches, dispatch, errors."""

from __future__ import annotations

import pytest
import torch

import fastprune.ops.decode_attention as da
from fastprune.errors import FastpruneError
from fastprune.ops import native
from fastprune.ops.availability import BackendUnavailableError
from fastprune.ops.decode_attention import decode_attention, decode_attention_native, decode_attention_ref

from .threads import with_threads

NATIVE = native.availability("cpu")
needs_native = pytest.mark.skipif(not NATIVE, reason=f"native CPU module unavailable: {NATIVE.reason}")

HEADS = [(1, 1), (4, 4), (8, 2), (9, 3), (6, 1)]
CACHE_LEN = 37
EPS = 1e-6


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    monkeypatch.delenv("FASTPRUNE_BACKEND", raising=False)


def rotary_tables(length: int, d: int, base: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    """HF's cos/sin for positions 0..length-1, with the first half of sin negated (rotate_half folded in)."""
    inv_freq = 1.0 / base ** (torch.arange(0, d, 2, dtype=torch.float64) / d)
    freqs = torch.outer(torch.arange(length, dtype=torch.float64), inv_freq)
    emb = torch.cat([freqs, freqs], dim=-1)
    sin = emb.sin()
    sin[:, : d // 2] *= -1
    return emb.cos().float(), sin.float()


def make_case(b, heads, kv_heads, d, cache_len=CACHE_LEN, slots=None, norms=False, seed=0, positions=None):
    """Inputs as a dict of keyword arguments for decode_attention (caches filled with earlier steps' data)."""
    gen = torch.Generator().manual_seed(seed)
    slots = b if slots is None else slots
    if positions is None:
        positions = torch.randint(0, cache_len, (b,), generator=gen)
        special = [cache_len - 1, 0]
        positions[: min(b, 2)] = torch.tensor(special[: min(b, 2)])
    cos, sin = rotary_tables(cache_len + 3, d)
    case = {
        "q": torch.randn(b, heads, d, generator=gen),
        "k_new": torch.randn(b, kv_heads, d, generator=gen),
        "v_new": torch.randn(b, kv_heads, d, generator=gen),
        "k_cache": torch.randn(slots, kv_heads, cache_len, d, generator=gen),
        "v_cache": torch.randn(slots, kv_heads, cache_len, d, generator=gen),
        "positions": positions,
        "cos_table": cos,
        "sin_table": sin,
        "scale": d**-0.5,
    }
    if norms:
        case["q_norm"] = (1.0 + 0.3 * torch.randn(d, generator=gen), EPS)
        case["k_norm"] = (1.0 + 0.3 * torch.randn(d, generator=gen), EPS)
    return case


def clone_case(case):
    return {k: (v.clone() if isinstance(v, torch.Tensor) else v) for k, v in case.items()}


def written_mask(case) -> torch.Tensor:
    """True at the cache entries a call writes: slot r, every kv head, position positions[r]."""
    slots, kv_heads, length, d = case["k_cache"].shape
    mask = torch.zeros(slots, kv_heads, length, d, dtype=torch.bool)
    for r, p in enumerate(case["positions"].tolist()):
        mask[r, :, p] = True
    return mask


def _close(got, want, what):
    atol = 1e-5 * float(want.abs().max()) + 1e-5
    torch.testing.assert_close(got, want, rtol=1e-4, atol=atol, msg=lambda m: f"{what}: {m}")


def run_and_compare(case, backend="native", **extra):
    """Runs the op on a copy and the reference on another; checks output, both caches and untouched entries."""
    ref_in, got_in = clone_case(case), clone_case(case)
    want = decode_attention_ref(**ref_in, **extra)
    got = decode_attention(**got_in, **extra, backend=backend)
    assert got.shape == want.shape == case["q"].shape and got.dtype == torch.float32
    _close(got, want, "output")
    _close(got_in["k_cache"], ref_in["k_cache"], "k_cache")
    # v is stored as given: exactly the reference's cache.
    assert torch.equal(got_in["v_cache"], ref_in["v_cache"])
    untouched = ~written_mask(case)
    for name in ("k_cache", "v_cache"):
        assert torch.equal(got_in[name][untouched], case[name][untouched]), f"{name}: an old entry changed"
    for name in ("q", "k_new", "v_new", "positions", "cos_table", "sin_table"):
        assert torch.equal(got_in[name], case[name]), f"{name} was modified"
    return got, got_in



# ---------------------------------------------------------------------------------------------------------
# native against the reference


@needs_native
@pytest.mark.parametrize("norms", [False, True], ids=["plain", "qk_norm"])
@pytest.mark.parametrize("window", [None, 1, 7, 1000], ids=lambda w: f"window{w}")
@pytest.mark.parametrize("d", [2, 8, 64, 80], ids=lambda d: f"d{d}")
@pytest.mark.parametrize("heads", HEADS, ids=lambda h: f"h{h[0]}kv{h[1]}")
@pytest.mark.parametrize("b", [1, 2, 5, 8], ids=lambda b: f"b{b}")
def test_native_matches_ref(b, heads, d, window, norms):
    case = make_case(b, *heads, d, norms=norms, seed=b * 1000 + heads[0] * 100 + d)
    run_and_compare(case, window=window)


@needs_native
@pytest.mark.parametrize("window", [None, 3])
def test_cache_with_more_slots_than_rows(window):
    case = make_case(3, 8, 2, 16, slots=5, norms=True, seed=1)
    _, after = run_and_compare(case, window=window)
    for name in ("k_cache", "v_cache"):
        assert torch.equal(after[name][3:], case[name][3:]), f"{name}: the unused slots changed"


@needs_native
def test_every_row_at_the_same_position():
    case = make_case(4, 6, 2, 8, positions=torch.full((4,), 20), seed=2)
    run_and_compare(case)


@needs_native
def test_rotary_tables_longer_than_the_cache_and_cache_longer_than_tables():
    case = make_case(3, 4, 2, 8, seed=3)
    long_cos, long_sin = rotary_tables(200, 8)
    run_and_compare({**case, "cos_table": long_cos, "sin_table": long_sin})
    short = {**case, "cos_table": case["cos_table"][:25], "sin_table": case["sin_table"][:25],
             "positions": torch.tensor([24, 0, 11])}
    run_and_compare(short)


@needs_native
def test_strided_q_k_v_views_of_a_fused_projection():
    # q, k, v as views of one [b, (heads + 2 kv_heads) * d] output: row stride larger than heads * d.
    b, heads, kv_heads, d = 3, 8, 2, 16
    case = make_case(b, heads, kv_heads, d, seed=4, norms=True)
    qkv = torch.cat([case["q"].flatten(1), case["k_new"].flatten(1), case["v_new"].flatten(1)], dim=1)
    views = {
        "q": qkv[:, : heads * d].view(b, heads, d),
        "k_new": qkv[:, heads * d: (heads + kv_heads) * d].view(b, kv_heads, d),
        "v_new": qkv[:, (heads + kv_heads) * d:].view(b, kv_heads, d),
    }
    assert views["q"].stride(0) == (heads + 2 * kv_heads) * d
    want_in, got_in = clone_case(case), clone_case(case)
    want = decode_attention_ref(**want_in)
    got = decode_attention(**{**got_in, **views}, backend="native")
    _close(got, want, "output")
    _close(got_in["k_cache"], want_in["k_cache"], "k_cache")
    assert torch.equal(got_in["v_cache"], want_in["v_cache"])


@needs_native
def test_non_packed_heads_are_copied():
    # Heads transposed in memory ([heads, b, d] viewed as [b, heads, d]).
    case = make_case(3, 4, 2, 8, seed=5)
    q_t = case["q"].transpose(0, 1).contiguous().transpose(0, 1)
    k_t = case["k_new"].transpose(0, 1).contiguous().transpose(0, 1)
    assert not q_t.is_contiguous()
    want_in, got_in = clone_case(case), clone_case(case)
    want = decode_attention_ref(**want_in)
    got = decode_attention(**{**got_in, "q": q_t, "k_new": k_t}, backend="native")
    _close(got, want, "output")
    _close(got_in["k_cache"], want_in["k_cache"], "k_cache")


@needs_native
def test_non_contiguous_norm_weights():
    case = make_case(2, 4, 2, 8, seed=6, norms=True)
    strided = {name: (torch.stack([case[name][0], case[name][0]], dim=1)[:, 0], EPS) for name in ("q_norm", "k_norm")}
    assert strided["q_norm"][0].stride(0) == 2
    want = decode_attention_ref(**clone_case(case))
    got = decode_attention(**{**clone_case(case), **strided}, backend="native")
    _close(got, want, "output")


@needs_native
def test_different_norm_eps_still_gives_the_reference_answer():
    case = make_case(2, 4, 2, 8, seed=7, norms=True)
    case["q_norm"] = (case["q_norm"][0], 1e-6)
    case["k_norm"] = (case["k_norm"][0], 0.5)  # large enough to matter
    want = decode_attention_ref(**clone_case(case))
    for backend in ("native", None):
        _close(decode_attention(**clone_case(case), backend=backend), want, f"{backend}")


@needs_native
def test_only_one_of_the_norms():
    case = make_case(3, 6, 3, 8, seed=8, norms=True)
    run_and_compare({k: v for k, v in case.items() if k != "k_norm"})
    run_and_compare({k: v for k, v in case.items() if k != "q_norm"})


@needs_native
def test_consecutive_steps_match_the_reference():
    # Three decode steps on one cache: each step's key, written by the previous call, must be the one read.
    case = make_case(2, 4, 2, 8, seed=9, norms=True, positions=torch.tensor([10, 3]))
    ref_k, ref_v = case["k_cache"].clone(), case["v_cache"].clone()
    got_k, got_v = case["k_cache"].clone(), case["v_cache"].clone()
    gen = torch.Generator().manual_seed(9)
    for step in range(3):
        fresh = {name: torch.randn(case[name].shape, generator=gen) for name in ("q", "k_new", "v_new")}
        step_case = {**case, **fresh, "positions": case["positions"] + step}
        want = decode_attention_ref(**{**step_case, "k_cache": ref_k, "v_cache": ref_v})
        got = decode_attention(**{**step_case, "k_cache": got_k, "v_cache": got_v}, backend="native")
        _close(got, want, f"step {step}")
    _close(got_k, ref_k, "k_cache")
    assert torch.equal(got_v, ref_v)


@needs_native
def test_strided_rotary_tables():
    case = make_case(3, 4, 2, 8, seed=1)
    wide = {name: torch.cat([case[name], torch.zeros_like(case[name])], dim=1)[:, :8]
            for name in ("cos_table", "sin_table")}
    assert wide["cos_table"].stride(0) == 16
    want_in, got_in = clone_case(case), clone_case(case)  # clone() would make the views contiguous
    want = decode_attention_ref(**want_in)
    got = decode_attention(**{**got_in, **wide}, backend="native")
    _close(got, want, "output")
    _close(got_in["k_cache"], want_in["k_cache"], "k_cache")


@pytest.mark.parametrize("backend", [
    pytest.param("native", marks=needs_native),
    "torch",
])
def test_zero_rows(backend):
    case = make_case(0, 4, 2, 8, slots=1, seed=23, positions=torch.zeros(0, dtype=torch.long))
    before = clone_case(case)
    out = decode_attention(**case, backend=backend)
    assert out.shape == (0, 4, 8)
    assert torch.equal(case["k_cache"], before["k_cache"]) and torch.equal(case["v_cache"], before["v_cache"])


# ---------------------------------------------------------------------------------------------------------
# threads


@needs_native
@pytest.mark.parametrize("window", [None, 50])
@pytest.mark.parametrize("norms", [False, True], ids=["plain", "qk_norm"])
def test_one_and_two_threads_agree_bitwise(norms, window):
    # 8 rows at positions up to 299 with 8 heads of 64: ~2.5M multiply-adds, far above the 65536 at which
    # the kernel starts using threads.
    case = make_case(8, 8, 2, 64, cache_len=300, norms=norms, seed=10)
    one_in, two_in = clone_case(case), clone_case(case)
    one = with_threads(1, lambda: decode_attention(**one_in, window=window, backend="native"))
    two = with_threads(2, lambda: decode_attention(**two_in, window=window, backend="native"))
    assert torch.equal(one, two), f"max diff {(one - two).abs().max()}"
    assert torch.equal(one_in["k_cache"], two_in["k_cache"])
    assert torch.equal(one_in["v_cache"], two_in["v_cache"])
    with_threads(2, lambda: run_and_compare(case, window=window))


# ---------------------------------------------------------------------------------------------------------
# checks independent of the reference


@pytest.mark.parametrize("backend", [pytest.param("native", marks=needs_native), "torch"])
@pytest.mark.parametrize("heads", [(1, 1), (8, 2), (6, 1)], ids=str)
def test_single_visible_key_returns_its_value(backend, heads):
    # cos = 1, sin = 0: no rotation; every row at position 0 sees only the key it just wrote.
    b, d = 3, 8
    case = make_case(b, *heads, d, positions=torch.zeros(b, dtype=torch.long), seed=11)
    case["cos_table"] = torch.ones_like(case["cos_table"])
    case["sin_table"] = torch.zeros_like(case["sin_table"])
    k_cache, v_cache = case["k_cache"], case["v_cache"]
    out = decode_attention(**case, backend=backend)
    group = heads[0] // heads[1]
    torch.testing.assert_close(out, case["v_new"].repeat_interleave(group, dim=1), rtol=0, atol=0)
    assert torch.equal(k_cache[:, :, 0], case["k_new"]) and torch.equal(v_cache[:, :, 0], case["v_new"])


@pytest.mark.parametrize("backend", [pytest.param("native", marks=needs_native), "torch"])
def test_stored_key_is_hf_rotary_of_the_new_key(backend):
    # HF's apply_rotary_pos_emb: k * cos + rotate_half(k) * sin, rotate_half(k) = cat(-k2, k1).
    b, kv_heads, d = 4, 2, 16
    case = make_case(b, 4, kv_heads, d, positions=torch.tensor([0, 5, 17, 36]), seed=12)
    cos, sin_signed = case["cos_table"], case["sin_table"]
    sin = sin_signed.clone()
    sin[:, : d // 2] *= -1
    decode_attention(**case, backend=backend)
    for r, p in enumerate(case["positions"].tolist()):
        k = case["k_new"][r]
        rotated = k * cos[p] + torch.cat([-k[:, d // 2:], k[:, : d // 2]], dim=-1) * sin[p]
        torch.testing.assert_close(case["k_cache"][r, :, p], rotated, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("backend", [pytest.param("native", marks=needs_native), "torch"])
def test_window_one_attends_only_to_the_new_key(backend):
    case = make_case(3, 4, 2, 8, seed=13)
    out = decode_attention(**case, window=1, backend=backend)
    torch.testing.assert_close(out, case["v_new"].repeat_interleave(2, dim=1), rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------------------------------------------------
# dispatch and errors


@needs_native
def test_auto_uses_native_for_float32(monkeypatch):
    calls = []
    real = da.decode_attention_native

    def spy(*args, **kwargs):
        calls.append("native")
        return real(*args, **kwargs)

    monkeypatch.setattr(da, "decode_attention_native", spy)
    case = make_case(2, 4, 2, 8, seed=14)
    decode_attention(**clone_case(case))
    decode_attention(**clone_case(case), backend="auto")
    assert calls == ["native", "native"]
    monkeypatch.setenv("FASTPRUNE_BACKEND", "torch")
    decode_attention(**clone_case(case))
    assert calls == ["native", "native"]


def _bf16(case):
    def cast(v):
        if isinstance(v, tuple):  # (norm weight, eps)
            return (v[0].bfloat16(), v[1])
        return v.bfloat16() if isinstance(v, torch.Tensor) and v.is_floating_point() else v

    return {k: cast(v) for k, v in case.items()}


@needs_native
def test_native_rejects_bfloat16():
    case = _bf16(make_case(2, 4, 2, 8, seed=15))
    with pytest.raises(BackendUnavailableError, match=r"backend='native'.*torch\.bfloat16"):
        decode_attention(**case, backend="native")


@needs_native
def test_native_rejects_non_contiguous_caches():
    case = make_case(2, 4, 2, 8, seed=16)
    case["k_cache"] = case["k_cache"].transpose(2, 3).contiguous().transpose(2, 3)
    with pytest.raises(BackendUnavailableError, match="not contiguous"):
        decode_attention(**case, backend="native")
    with pytest.raises(FastpruneError, match="contiguous"):
        decode_attention_native(**case)
    # auto falls back to torch, which writes the strided cache in place.
    want_in, got_in = clone_case(case), clone_case(case)
    assert not got_in["k_cache"].is_contiguous()  # clone() keeps a dense permuted layout
    want = decode_attention_ref(**want_in)
    got = decode_attention(**got_in)
    assert torch.equal(got, want) and torch.equal(got_in["k_cache"], want_in["k_cache"])


@pytest.mark.parametrize("backend", [None, "auto", "torch"])
def test_bfloat16_runs_on_torch_and_matches_the_reference(backend):
    case = _bf16(make_case(3, 8, 2, 16, seed=17, norms=True))
    want_in, got_in = clone_case(case), clone_case(case)
    want = decode_attention_ref(**want_in)
    got = decode_attention(**got_in, backend=backend)
    assert got.dtype == torch.bfloat16 and torch.equal(got, want)
    assert torch.equal(got_in["k_cache"], want_in["k_cache"]) and torch.equal(got_in["v_cache"], want_in["v_cache"])


@pytest.mark.parametrize("backend", [pytest.param("native", marks=needs_native), "torch", None])
@pytest.mark.parametrize("bad", [CACHE_LEN, CACHE_LEN + 5, -1])
def test_position_outside_the_cache(backend, bad):
    case = make_case(3, 4, 2, 8, seed=18, positions=torch.tensor([0, bad, 3]))
    before = clone_case(case)
    with pytest.raises(FastpruneError, match="outside the cache"):
        decode_attention(**case, backend=backend)
    assert torch.equal(case["k_cache"], before["k_cache"]) and torch.equal(case["v_cache"], before["v_cache"])


@pytest.mark.parametrize("backend", [pytest.param("native", marks=needs_native), "torch", None])
def test_position_beyond_the_rotary_tables(backend):
    case = make_case(2, 4, 2, 8, seed=19, positions=torch.tensor([1, 30]))
    case["cos_table"], case["sin_table"] = case["cos_table"][:30], case["sin_table"][:30]
    with pytest.raises(FastpruneError, match=r"rotary tables \(30\)"):
        decode_attention(**case, backend=backend)


@needs_native
@pytest.mark.parametrize("bad", [CACHE_LEN, CACHE_LEN + 100, -3])
def test_native_binding_rejects_positions_outside_the_cache(bad):
    case = make_case(2, 4, 2, 8, seed=20, positions=torch.tensor([2, bad]))
    before = clone_case(case)
    with pytest.raises(ValueError, match=rf"row 1 position {bad} is outside the cache \(length {CACHE_LEN}\)"):
        decode_attention_native(**case)
    assert torch.equal(case["k_cache"], before["k_cache"]) and torch.equal(case["v_cache"], before["v_cache"])


@needs_native
def test_native_binding_rejects_heads_not_a_multiple_of_kv_heads():
    case = make_case(2, 4, 2, 8, seed=21)
    case["k_new"], case["v_new"] = case["k_new"][:, :1].repeat(1, 3, 1), case["v_new"][:, :1].repeat(1, 3, 1)
    case["k_cache"] = case["k_cache"][:, :1].repeat(1, 3, 1, 1)
    case["v_cache"] = case["v_cache"][:, :1].repeat(1, 3, 1, 1)
    with pytest.raises(ValueError, match=r"heads \(4\) must be a multiple of kv_heads \(3\)"):
        decode_attention_native(**case)


def _bad_shape_cases():
    base = make_case(2, 4, 2, 8, seed=22)
    k3 = {"k_new": torch.randn(2, 3, 8), "v_new": torch.randn(2, 3, 8), "k_cache": torch.randn(2, 3, 37, 8),
          "v_cache": torch.randn(2, 3, 37, 8)}
    cos, sin = base["cos_table"], base["sin_table"]
    return base, {
        "heads_not_multiple": (k3, r"heads a multiple of kv_heads"),
        "positions_int32": ({"positions": base["positions"].int()}, r"positions must be int64 \[2\].*torch\.int32"),
        "positions_float": ({"positions": base["positions"].float()}, r"positions must be int64"),
        "positions_length": ({"positions": torch.tensor([0, 1, 2])}, r"positions must be int64 \[2\]"),
        "table_width": ({"cos_table": cos[:, :6], "sin_table": sin[:, :6]}, r"rotary tables must be \[len, 8\]"),
        "tables_differ": ({"sin_table": sin[:20]}, r"rotary tables must be \[len, 8\]"),
        "q_not_3d": ({"q": base["q"].flatten(1)}, r"q must be \[b, heads, d\]"),
        "v_shape": ({"v_new": torch.randn(2, 2, 6)}, r"q must be \[b, heads, d\]"),
        "rows_differ": ({"k_new": torch.randn(3, 2, 8), "v_new": torch.randn(3, 2, 8)}, r"same rows"),
        "head_dim_differs": ({"k_new": torch.randn(2, 2, 6), "v_new": torch.randn(2, 2, 6)}, r"head size"),
        "too_few_slots": ({"k_cache": torch.randn(1, 2, 37, 8), "v_cache": torch.randn(1, 2, 37, 8)},
                          r"caches must be \[>= 2, 2, len, 8\]"),
        "caches_differ": ({"v_cache": torch.randn(2, 2, 36, 8)}, r"caches must be"),
        "cache_kv_heads": ({"k_cache": torch.randn(2, 4, 37, 8), "v_cache": torch.randn(2, 4, 37, 8)},
                           r"caches must be \[>= 2, 2, len, 8\]"),
    }


@pytest.mark.parametrize("backend", [pytest.param("native", marks=needs_native), "torch", None])
@pytest.mark.parametrize("case_name", list(_bad_shape_cases()[1]))
def test_bad_shapes_raise_clear_errors(case_name, backend):
    base, cases = _bad_shape_cases()
    change, message = cases[case_name]
    with pytest.raises(FastpruneError, match=message):
        decode_attention(**{**base, **change}, backend=backend)


@pytest.mark.parametrize("window", [0, -3])
def test_a_window_below_one_is_an_error(window):
    case = make_case(2, 4, 2, 8, seed=5)
    with pytest.raises(FastpruneError, match="window"):
        decode_attention(**case, window=window)
