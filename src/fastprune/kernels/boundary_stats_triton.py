"""Triton kernel for ``boundary_stats`` (see ``fastprune.ops.boundary_stats`` for the maths).

Grid: (tile pair, token block). The K x K Gram matrix is cut into ``BK x BK`` tiles and only tile pairs
``bi <= bj`` are launched (one pair when K <= 64). A program walks its tokens one at a time and, per
token, loops over D in ``BLOCK_D`` columns accumulating ``tl.dot(x_i, x_j^T)`` (on GPU 16-bit inputs stay
16-bit so the MMA units are used, their products exact in the float32 accumulator; float32 inputs use
IEEE precision, never TF32), the rows' squared norms, and on diagonal tiles the squared differences
``|h_{k+1} - h_k|^2`` (loaded directly: a Gram-based difference cancels for small updates). The
per-token cosines/angles are weighted and summed in float32 registers; each program stores one partial
row, and the launcher reduces partials in float64.

The kernel is decorated lazily (``_compiled``) because ``triton.jit`` decides at decoration time whether
to build a GPU kernel or an interpreter one (``TRITON_INTERPRET=1``); decorating at import would fix the
mode for the process.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

EPS = 1e-8
_PAIR_BLOCK_CAP = 64  # BK: Gram tiles above 64 x 64 would not fit a program's registers
_TARGET_PROGRAMS_PER_SM = 4
_INTERPRETER_PROGRAMS = 8  # the interpreter runs programs one by one in Python: few, long programs
# D columns per chunk by (BK, float32 input), with 8 warps: the configurations ptxas compiles for sm_90
# without spilling (the [BK, BK] cosine/angle epilogue is register-heavy; checked with ptxas -v).
_BLOCK_D = {(16, False): 64, (32, False): 64, (64, False): 32, (16, True): 32, (32, True): 64, (64, True): 16}
_NUM_WARPS = 8


def _boundary_stats_kernel(
    hidden_ptr,
    weight_ptr,
    pair_i_ptr,
    pair_j_ptr,
    cos_ptr,
    ang_ptr,
    norm_ptr,
    update_ptr,
    wsum_ptr,
    K,
    N,
    D,
    stride_k,
    stride_n,
    tokens_per_program,
    K_PAD: tl.constexpr,
    BK: tl.constexpr,
    BLOCK_D: tl.constexpr,
    DOT_FP32: tl.constexpr,
    SINGLE_TILE: tl.constexpr,
    EPS: tl.constexpr,
):
    pid_pair = tl.program_id(0)
    pid_tok = tl.program_id(1)
    bi = tl.load(pair_i_ptr + pid_pair)
    bj = tl.load(pair_j_ptr + pid_pair)
    # Scalar conditions are folded into limits (row < limit) rather than and-ed with block masks,
    # which the interpreter rejects.
    diag_k = tl.where(bi == bj, K, 0)  # diagonal tiles own norms and updates: K there, 0 elsewhere

    rows_i = bi * BK + tl.arange(0, BK)
    rows_j = bj * BK + tl.arange(0, BK)
    ok_i = rows_i < K
    ok_j = rows_j < K
    ok_next = (rows_i + 1) < K
    own_norm = rows_i < diag_k
    own_next = (rows_i + 1) < diag_k
    off_i = rows_i.to(tl.int64) * stride_k
    off_j = rows_j.to(tl.int64) * stride_k
    off_next = off_i + stride_k
    cols = tl.arange(0, BLOCK_D)
    same_row = rows_i[:, None] == rows_j[None, :]

    acc_cos = tl.zeros((BK, BK), dtype=tl.float32)
    acc_ang = tl.zeros((BK, BK), dtype=tl.float32)
    acc_norm = tl.zeros((BK,), dtype=tl.float32)
    acc_update = tl.zeros((BK,), dtype=tl.float32)
    acc_weight = 0.0

    t_begin = pid_tok * tokens_per_program
    for tt in range(0, tokens_per_program):
        t = t_begin + tt
        # Tokens past N load zeros and weight 0, so they add exactly nothing (0 * finite).
        d_lim = tl.where(t < N, D, 0)
        base = hidden_ptr + t.to(tl.int64) * stride_n
        gram = tl.zeros((BK, BK), dtype=tl.float32)
        sq_i = tl.zeros((BK,), dtype=tl.float32)
        sq_j = tl.zeros((BK,), dtype=tl.float32)
        diff_sq = tl.zeros((BK,), dtype=tl.float32)
        for d0 in range(0, D, BLOCK_D):
            c = d0 + cols
            ok_c = (c < d_lim)[None, :]
            x_i = tl.load(base + off_i[:, None] + c[None, :], mask=ok_i[:, None] & ok_c, other=0.0)
            xf_i = x_i.to(tl.float32)
            if SINGLE_TILE:
                # Every boundary fits one tile (K <= 64): one load per chunk, norms come from the
                # Gram diagonal after the loop.
                if DOT_FP32:
                    gram += tl.dot(xf_i, tl.trans(xf_i), input_precision="ieee")
                else:
                    gram += tl.dot(x_i, tl.trans(x_i))
            else:
                x_j = tl.load(base + off_j[:, None] + c[None, :], mask=ok_j[:, None] & ok_c, other=0.0)
                xf_j = x_j.to(tl.float32)
                if DOT_FP32:
                    gram += tl.dot(xf_i, tl.trans(xf_j), input_precision="ieee")
                else:
                    gram += tl.dot(x_i, tl.trans(x_j))
                sq_i += tl.sum(xf_i * xf_i, axis=1)
                sq_j += tl.sum(xf_j * xf_j, axis=1)
            # Only diagonal tiles own the update statistic; elsewhere the mask issues no loads.
            x_next = tl.load(base + off_next[:, None] + c[None, :], mask=own_next[:, None] & ok_c, other=0.0)
            diff = tl.where(ok_next[:, None], x_next.to(tl.float32) - xf_i, 0.0)
            diff_sq += tl.sum(diff * diff, axis=1)

        if SINGLE_TILE:
            diagonal = tl.where(same_row, gram, 0.0)  # where, not multiply: NaN stays in its own row
            sq_i = tl.sum(diagonal, axis=1)
            sq_j = tl.sum(diagonal, axis=0)
        w = tl.where(t < N, tl.load(weight_ptr + tl.minimum(t, N - 1)), 0.0)
        norm_i = tl.sqrt(sq_i)
        norm_j = tl.sqrt(sq_j)
        # NaN must propagate, so max/clamp are comparisons that are false for NaN (not tl.maximum).
        den_i = tl.where(norm_i < EPS, EPS, norm_i)
        den_j = tl.where(norm_j < EPS, EPS, norm_j)
        cos = gram / (den_i[:, None] * den_j[None, :])
        # cos(h, h) = 1 by definition: n / n is exact, so the diagonal angle is exactly 0.
        self_cos = norm_i / den_i
        cos = tl.where(same_row, (self_cos * self_cos)[:, None], cos)
        cos = tl.where(cos > 1.0, 1.0, tl.where(cos < -1.0, -1.0, cos))
        # arccos by Abramowitz & Stegun 4.4.46 (|error| <= 2e-8), acos(-x) = pi - acos(x); portable to
        # the interpreter and every GPU backend, and identical to the C++ kernel's formula.
        a = tl.abs(cos)
        p = -0.0012624911
        p = p * a + 0.0066700901
        p = p * a - 0.0170881256
        p = p * a + 0.0308918810
        p = p * a - 0.0501743046
        p = p * a + 0.0889789874
        p = p * a - 0.2145988016
        p = p * a + 1.5707963050
        r = tl.sqrt(1.0 - a) * p
        ang = tl.where(cos < 0.0, 3.141592653589793 - r, r) * 0.3183098861837907

        acc_cos += w * cos
        acc_ang += w * ang
        acc_norm += w * norm_i
        acc_update += w * (tl.sqrt(diff_sq) / den_i)
        acc_weight += w

    tile = pid_tok.to(tl.int64) * K_PAD * K_PAD + rows_i[:, None] * K_PAD + rows_j[None, :]
    tile_ok = ok_i[:, None] & ok_j[None, :]
    tl.store(cos_ptr + tile, acc_cos, mask=tile_ok)
    tl.store(ang_ptr + tile, acc_ang, mask=tile_ok)
    row = pid_tok.to(tl.int64) * K_PAD + rows_i
    tl.store(norm_ptr + row, acc_norm, mask=own_norm)
    tl.store(update_ptr + row, acc_update, mask=own_next)
    # Every pair program sums the same weights; the first one stores them (a one-lane masked store).
    lane = tl.arange(0, 1)
    tl.store(wsum_ptr + pid_tok + lane, tl.zeros((1,), dtype=tl.float32) + acc_weight, mask=lane < 1 - pid_pair)


_JITTED: dict[bool, object] = {}


def _compiled():
    interpret = bool(triton.knobs.runtime.interpret)
    if interpret not in _JITTED:
        _JITTED[interpret] = triton.jit(_boundary_stats_kernel)
    return _JITTED[interpret]


def _tile_size(k: int) -> int:
    return min(max(16, triton.next_power_of_2(k)), _PAIR_BLOCK_CAP)


def _program_budget(device: torch.device) -> int:
    if device.type == "cuda":
        return _TARGET_PROGRAMS_PER_SM * torch.cuda.get_device_properties(device).multi_processor_count
    return _INTERPRETER_PROGRAMS


def boundary_stats_triton(hidden: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Packed boundary statistics, float64 ``[2*K*K + 2*K]`` (layout of ``fastprune.ops.boundary_stats``).

    hidden: ``[K, N, D]`` float32/bfloat16/float16 with ``stride(-1) == 1``; weight: ``[N]`` float32,
    contiguous, same device. Inputs are validated by the caller.
    """
    k, n, d = hidden.shape
    device = hidden.device
    bk = _tile_size(k)
    tiles = -(-k // bk)
    k_pad = tiles * bk
    pairs = [(i, j) for i in range(tiles) for j in range(i, tiles)]
    pair_i = torch.tensor([i for i, _ in pairs], dtype=torch.int32, device=device)
    pair_j = torch.tensor([j for _, j in pairs], dtype=torch.int32, device=device)

    token_blocks = max(1, min(n, -(-_program_budget(device) // len(pairs))))
    tokens_per_program = max(1, -(-n // token_blocks))
    token_blocks = max(1, -(-n // tokens_per_program))

    f32 = {"dtype": torch.float32, "device": device}
    # Entries a program does not own (lower tiles, padding) must read as zero in the reduction.
    cos = torch.zeros((token_blocks, k_pad, k_pad), **f32)
    ang = torch.zeros((token_blocks, k_pad, k_pad), **f32)
    norm = torch.zeros((token_blocks, k_pad), **f32)
    update = torch.zeros((token_blocks, k_pad), **f32)
    wsum = torch.zeros((token_blocks,), **f32)
    if n > 0:
        _compiled()[(len(pairs), token_blocks)](
            hidden, weight, pair_i, pair_j, cos, ang, norm, update, wsum,
            k, n, d, hidden.stride(0), hidden.stride(1), tokens_per_program,
            K_PAD=k_pad,
            BK=bk,
            BLOCK_D=_BLOCK_D[bk, hidden.dtype == torch.float32],
            # 16-bit tiles go to the MMA units as they are; the interpreter's numpy matmul cannot
            # multiply bfloat16, so there (and for float32 inputs) the dot runs on float32 at IEEE
            # precision. Either way each product is exact in float32.
            DOT_FP32=hidden.dtype == torch.float32 or bool(triton.knobs.runtime.interpret),
            SINGLE_TILE=tiles == 1,
            num_warps=_NUM_WARPS,
            EPS=EPS,
        )  # fmt: skip

    def symmetric(upper_tiles: torch.Tensor) -> torch.Tensor:
        # Diagonal tiles hold both triangles, off-diagonal ones only i < j: keep i <= j and mirror.
        upper = upper_tiles.to(torch.float64).sum(0)[:k, :k].triu()
        return upper + upper.triu(1).mT

    return torch.cat(
        [
            symmetric(cos).reshape(-1),
            symmetric(ang).reshape(-1),
            norm.to(torch.float64).sum(0)[:k],
            update.to(torch.float64).sum(0)[: k - 1],
            wsum.to(torch.float64).sum(0, keepdim=True),
        ]
    )


__all__ = ["EPS", "boundary_stats_triton"]
