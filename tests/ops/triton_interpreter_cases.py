"""Triton kernel cases run through TRITON_INTERPRET=1 on CPU.

Not collected by the suite (the name does not start with ``test_``): test_boundary_stats_triton.py runs
this file in a fresh interpreter process, because Triton decides interpreter-or-GPU for its own
standard library (tl.zeros, tl.sum, ...) when ``triton`` is first imported. Shapes stay tiny: the
interpreter executes every program in Python.
"""

from __future__ import annotations

import os

os.environ["TRITON_INTERPRET"] = "1"  # before triton is imported (a fresh process imports it below)

import pytest  # noqa: E402
import torch  # noqa: E402
import triton.language.standard  # noqa: E402
from triton.runtime.interpreter import InterpretedFunction  # noqa: E402

from fastprune.ops import boundary_stats  # noqa: E402

if not isinstance(triton.language.standard.zeros, InterpretedFunction):
    pytest.fail(
        "triton was imported before TRITON_INTERPRET=1 was set; run this file in a fresh process "
        "(tests/ops/test_boundary_stats_triton.py does)",
        pytrace=False,
    )

CASES = [
    (7, 13, 37, torch.float32, "contiguous"),
    (3, 1, 5, torch.float32, "contiguous"),
    (5, 9, 70, torch.bfloat16, "contiguous"),
    (5, 9, 70, torch.float16, "token_major"),
    (33, 4, 20, torch.float32, "sliced"),  # one 64 x 64 tile, half of it padding
    (70, 3, 10, torch.float32, "contiguous"),  # two tiles: an off-diagonal tile pair and its mirror
]


@pytest.mark.parametrize("k,n,d,dtype,layout", CASES, ids=str)
def test_triton_interpreter_matches_ref(k, n, d, dtype, layout, residual_hidden, token_weights, assert_stats_close):
    hidden = residual_hidden(k, n, d, dtype=dtype, seed=k + n, layout=layout)
    weight = token_weights(n, seed=k + n)
    assert_stats_close(boundary_stats(hidden, weight, backend="triton"), hidden, weight)


def test_triton_interpreter_propagates_nan(residual_hidden, token_weights, assert_stats_close):
    hidden = residual_hidden(4, 5, 24, seed=9)
    hidden[1, 2, 3] = float("nan")
    weight = token_weights(5, seed=9)
    got = boundary_stats(hidden, weight, backend="triton")
    assert torch.isnan(got.cos_sum[1]).all() and torch.isnan(got.ang_sum[:, 1]).all()
    assert torch.isfinite(got.cos_sum[[0, 2, 3]][:, [0, 2, 3]]).all()
    assert torch.isnan(got.norm_sum[1]) and torch.isnan(got.update_sum[:2]).all()
    assert torch.isfinite(got.update_sum[2])
    assert_stats_close(got, hidden, weight)


def test_triton_zero_tokens():
    stats = boundary_stats(torch.randn(3, 0, 4), torch.ones(0), backend="triton")
    assert all(torch.count_nonzero(field) == 0 for field in stats)


def test_triton_op_passes_opcheck(residual_hidden, token_weights):
    hidden = residual_hidden(3, 5, 8, seed=4)
    torch.library.opcheck(torch.ops.fastprune.boundary_stats_triton.default, (hidden, token_weights(5, seed=4)))
