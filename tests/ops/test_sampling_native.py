"""The native CPU sampling kernel against the torch reference (semantics in fastprune.ops.sampling)."""

from __future__ import annotations

import pytest
import torch

from fastprune.errors import FastpruneError
from fastprune.ops import native
from fastprune.ops.sampling import filtered_probs_ref, sample, sample_native, sample_ref

from .threads import with_threads

pytestmark = pytest.mark.skipif(not native.availability("cpu"), reason="fastprune._native_cpu is not built")

# (temperature, top_k, top_p): greedy, plain, top-k, top-p, both, top-k 1, top-k past the vocabulary.
ROWS = [(0.0, 0, 1.0), (0.7, 0, 1.0), (1.0, 5, 1.0), (1.3, 0, 0.8), (0.9, 17, 0.9), (2.0, 1, 0.5),
        (0.5, 40, 0.95), (1.0, 0, 0.3), (1.1, 10**9, 0.99)]


def _params(rows=ROWS):
    temp, k, p = zip(*rows, strict=True)
    return (torch.tensor(temp, dtype=torch.float32), torch.tensor(k, dtype=torch.int64),
            torch.tensor(p, dtype=torch.float32))


def _logits(b: int, v: int, seed: int, scale: float = 3.0) -> torch.Tensor:
    return torch.randn(b, v, generator=torch.Generator().manual_seed(seed)) * scale


@pytest.mark.parametrize("v", [1, 2, 7, 16, 17, 129, 300, 1000])
@pytest.mark.parametrize("seed", range(4))
def test_kept_probabilities_and_draws_equal_the_reference(v, seed):
    logits = _logits(len(ROWS), v, seed, scale=[0.5, 3.0, 8.0, 20.0][seed])
    params = _params()
    u = torch.rand(len(ROWS), generator=torch.Generator().manual_seed(100 + seed))
    ids, kept = sample_native(logits, *params, u, return_probs=True)
    want = filtered_probs_ref(logits, *params)
    # The kernel's exp flushes results below exp(-87.3) ~ 1e-38 to zero, where torch keeps denormals.
    assert torch.equal(kept > 1e-30, want > 1e-30), "the kept token sets differ"
    torch.testing.assert_close(kept, want, rtol=1e-5, atol=1e-7)
    assert ids.tolist() == sample_ref(logits, *params, u).tolist()


def test_a_full_vocabulary_differs_from_the_reference_only_at_the_top_p_boundary():
    # At 49k tokens the reference's float32 running sum over the sorted row drifts by ~1e-4 of the mass,
    # so the two may disagree on which near-threshold tokens the top-p cut keeps; nothing else may differ.
    v = 49152
    logits = _logits(len(ROWS), v, seed=7, scale=1.0)
    params = _params()
    u = torch.rand(len(ROWS), generator=torch.Generator().manual_seed(8))
    ids, kept = sample_native(logits, *params, u, return_probs=True)
    want = filtered_probs_ref(logits, *params)
    differ = (kept > 0) != (want > 0)
    for r in range(len(ROWS)):
        if ROWS[r][2] >= 1.0:
            assert not differ[r].any(), f"row {r} has no top-p cut but its kept set differs"
        assert float((kept[r] - want[r]).abs().sum()) < 1e-3, f"row {r}: kept mass differs by more than 1e-3"
        if differ[r].any():
            boundary = float(torch.minimum(kept[r][kept[r] > 0].min(), want[r][want[r] > 0].min()))
            assert float(torch.maximum(kept[r], want[r])[differ[r]].max()) <= boundary * 1.001
    both = (kept > 0) & (want > 0)
    torch.testing.assert_close(kept[both], want[both], rtol=1e-5, atol=1e-9)
    assert ids.tolist() == sample_ref(logits, *params, u).tolist()


@pytest.mark.parametrize("isa", native.native_build_info()["cpu"].get("isas_supported", []) or ["baseline"])
def test_every_instruction_set_agrees(monkeypatch, isa):
    logits, params = _logits(len(ROWS), 333, seed=11), _params()
    u = torch.rand(len(ROWS), generator=torch.Generator().manual_seed(12))
    monkeypatch.setenv("FASTPRUNE_CPU_ISA", isa)
    ids, kept = sample_native(logits, *params, u, return_probs=True)
    torch.testing.assert_close(kept, filtered_probs_ref(logits, *params), rtol=1e-5, atol=1e-7)
    assert ids.tolist() == sample_ref(logits, *params, u).tolist()


def test_one_and_two_threads_draw_the_same():
    logits, params = _logits(len(ROWS), 5000, seed=13), _params()
    u = torch.rand(len(ROWS), generator=torch.Generator().manual_seed(14))
    one = with_threads(1, lambda: sample_native(logits, *params, u, return_probs=True))
    two = with_threads(2, lambda: sample_native(logits, *params, u, return_probs=True))
    assert torch.equal(one[0], two[0]) and torch.equal(one[1], two[1])


def test_ties_masked_tokens_and_strided_rows():
    # Ties at the top-k boundary are all kept; -inf logits have zero probability and are never drawn.
    wide = torch.tensor([[1.0, -float("inf"), 2.0, 2.0, 2.0, 0.5, 9.0, 9.0],
                         [3.0, 3.0, 3.0, 3.0, -float("inf"), -float("inf"), 0.0, 0.0]])
    logits = wide[:, ::2]  # a strided view: [[1, 2, 2, 9], [3, 3, -inf, 0]]; top-k 2 keeps both 2s
    params = _params([(1.0, 2, 1.0), (1.0, 1, 1.0)])
    for u in (0.0, 0.3, 0.999999):
        ids, kept = sample_native(logits, *params, torch.tensor([u, u]), return_probs=True)
        assert (kept[0] > 0).tolist() == [False, True, True, True]
        assert (kept[1] > 0).tolist() == [True, True, False, False]
        assert ids.tolist() == sample_ref(logits, *params, torch.tensor([u, u])).tolist()
        assert ids[1].item() in (0, 1)


def test_auto_uses_the_native_kernel_on_a_cpu(monkeypatch):
    import fastprune.ops.sampling as sampling

    calls = []
    real = sampling.sample_native
    monkeypatch.setattr(sampling, "sample_native", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    logits, params = _logits(3, 50, seed=1), _params(ROWS[1:4])
    sample(logits, *params, uniform=torch.rand(3))
    assert calls == [1]
    monkeypatch.setenv("FASTPRUNE_BACKEND", "torch")
    sample(logits, *params, uniform=torch.rand(3))
    assert calls == [1]


def test_bfloat16_logits_are_sampled_in_float32():
    logits, params = _logits(len(ROWS), 200, seed=21).to(torch.bfloat16), _params()
    u = torch.rand(len(ROWS), generator=torch.Generator().manual_seed(22))
    assert sample(logits, *params, uniform=u, backend="native").tolist() == sample_ref(logits, *params, u).tolist()


def test_bad_inputs():
    with pytest.raises(FastpruneError, match="CPU-only"):
        sample_native(torch.zeros(1, 4, device="meta"), *_params([(1.0, 0, 1.0)]), torch.zeros(1))
    with pytest.raises(ValueError, match="vocab"):
        native.require("cpu").sample(0, 4, 1, 0, 0, 0, 0, 0, 0, 0, 1)
    empty = (torch.zeros(0), torch.zeros(0, dtype=torch.long), torch.zeros(0))
    assert sample_native(torch.zeros(0, 5), *empty, torch.zeros(0)).shape == (0,)
