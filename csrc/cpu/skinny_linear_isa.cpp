// Skinny matrix product for one instruction set: few rows of x (M <= ~16) against a row-major weight.
//
// Compiled once per ISA (isa_target.h: FP_ISA_NS, FP_LANES and FP_VREGS). Decode steps are this shape:
// every weight row is used by only M dot products, so the product is bound by streaming the weights from
// memory, and a general GEMM's packing and blocking (built for large M) costs more than it saves; torch's
// fp32 linear reaches about a third of the machine's read bandwidth here. This kernel streams each weight
// row exactly once:
//   * a tile is R weight rows x MB rows of x; each loaded weight vector feeds MB FMAs and each x vector
//     R FMAs, with R*MB vector accumulators kept in registers across the whole k loop;
//   * R is the largest tile height that fits the register file for that MB, so one weight row is read
//     once for all M rows (M is split into chunks of 8, 4, 2, 1 that reuse the tile's rows from L1/L2);
//   * lanes are reduced once per dot product, pairwise; a k tail shorter than a vector is scalar.
// The summation order differs from torch's (pairwise per lane, then across lanes), so results agree to
// float32 rounding, not bit for bit.
#include "isa_target.h"

#include "skinny_linear_kernel.h"
#include "vector_math.inl"

namespace fastprune {
namespace cpu {
namespace FP_ISA_NS {
namespace {

constexpr int kSkLanes = kVmLanes;
constexpr int kSkRegs = FP_VREGS;

static inline float sk_silu(float v) { return v / (1.0f + __builtin_expf(-v)); }

// Tile height for MB rows of x: weight vectors (R per matrix) + accumulators (R*MB per matrix) + one x
// vector must fit the register file; heights divide kSkinnyRowBlock.
constexpr int sk_tile_rows(int mb, int mats) {
  return (kSkRegs - 2) / (mats * (mb + 1)) >= 8   ? 8
         : (kSkRegs - 2) / (mats * (mb + 1)) >= 6 ? 6
         : (kSkRegs - 2) / (mats * (mb + 1)) >= 4 ? 4
         : (kSkRegs - 2) / (mats * (mb + 1)) >= 3 ? 3
         : (kSkRegs - 2) / (mats * (mb + 1)) >= 2 ? 2
                                                  : 1;
}
static_assert(kSkinnyRowBlock % 8 == 0 && kSkinnyRowBlock % 6 == 0, "tile heights must divide the row block");

template <int MB, int R, bool Gated>
static inline void sk_tile(const SkinnyLinearProblem& p, int64_t m0, int64_t n0) {
  constexpr int kMats = Gated ? 2 : 1;
  const int64_t k = p.k;
  const float* rows[kMats][R];
  for (int r = 0; r < R; ++r) {
    rows[0][r] = p.w + (n0 + r) * p.w_stride;
    if (Gated) rows[kMats - 1][r] = p.w_up + (n0 + r) * p.w_stride;
  }
  const float* xs[MB];
  for (int i = 0; i < MB; ++i) xs[i] = p.x + (m0 + i) * p.x_stride;

  VmVec acc[kMats][R][MB];
  for (int g = 0; g < kMats; ++g)
    for (int r = 0; r < R; ++r)
      for (int i = 0; i < MB; ++i) acc[g][r][i] = VmVec{};

  // The rows after this tile's (the next tile's, as long as the range goes on) are fetched while this
  // tile computes, R cache lines per step: without it the loads of a tile only start after the previous
  // tile's arithmetic, and memory time and compute time add up instead of overlapping. Measured on a
  // Zen 4 (embedded model's shapes, 2 threads): locality 1 (prefetcht2) beat 0 and 3 by 20-30% at 8 rows;
  // one tile ahead was as good as two to four.
  const float* ahead[kMats];
  for (int g = 0; g < kMats; ++g) ahead[g] = rows[g][0] + R * p.w_stride;
  int64_t kk = 0;
  int64_t line = 0;
  for (; kk + kSkLanes <= k; kk += kSkLanes) {
    for (int g = 0; g < kMats; ++g)
      for (int r = 0; r < R; ++r) __builtin_prefetch(ahead[g] + (line + r) * 16, 0, 1);
    line += R;
    VmVec wv[kMats][R];
    for (int g = 0; g < kMats; ++g)
      for (int r = 0; r < R; ++r) wv[g][r] = vm_load(rows[g][r] + kk);
    for (int i = 0; i < MB; ++i) {
      const VmVec xv = vm_load(xs[i] + kk);
      for (int g = 0; g < kMats; ++g)
        for (int r = 0; r < R; ++r) acc[g][r][i] += wv[g][r] * xv;
    }
  }

  for (int r = 0; r < R; ++r) {
    const int64_t n = n0 + r;
    for (int i = 0; i < MB; ++i) {
      float dot[kMats];
      for (int g = 0; g < kMats; ++g) {
        float s = vm_lane_sum(acc[g][r][i]);
        for (int64_t t = kk; t < k; ++t) s += rows[g][r][t] * xs[i][t];
        dot[g] = s;
      }
      float out = dot[0] + (p.bias != nullptr ? p.bias[n] : 0.0f);
      if (Gated) out = sk_silu(out) * (dot[kMats - 1] + (p.bias_up != nullptr ? p.bias_up[n] : 0.0f));
      float* dst = p.y + (m0 + i) * p.y_stride + n;
      *dst = p.accumulate ? *dst + out : out;
    }
  }
}

// Rows [n_begin, n_end) for MB rows of x starting at m0: full tiles, then single rows.
template <int MB, bool Gated>
static inline void sk_rows(const SkinnyLinearProblem& p, int64_t m0, int64_t n_begin, int64_t n_end) {
  constexpr int R = sk_tile_rows(MB, Gated ? 2 : 1);
  int64_t n = n_begin;
  for (; n + R <= n_end; n += R) sk_tile<MB, R, Gated>(p, m0, n);
  for (; n < n_end; ++n) sk_tile<MB, 1, Gated>(p, m0, n);
}

template <bool Gated>
static void sk_block(const SkinnyLinearProblem& p, int64_t n_begin, int64_t n_end) {
  int64_t m0 = 0;
  for (; m0 + 8 <= p.m; m0 += 8) sk_rows<8, Gated>(p, m0, n_begin, n_end);
  if (p.m - m0 >= 4) { sk_rows<4, Gated>(p, m0, n_begin, n_end); m0 += 4; }
  if (p.m - m0 >= 2) { sk_rows<2, Gated>(p, m0, n_begin, n_end); m0 += 2; }
  if (p.m - m0 >= 1) sk_rows<1, Gated>(p, m0, n_begin, n_end);
}

}  // namespace

void skinny_linear_rows(const SkinnyLinearProblem& p, int64_t n_begin, int64_t n_end) {
  // One row block at a time, so the M chunks after the first find the block's weight rows in cache.
  for (int64_t b = n_begin; b < n_end; b += kSkinnyRowBlock) {
    const int64_t e = b + kSkinnyRowBlock < n_end ? b + kSkinnyRowBlock : n_end;
    if (p.w_up != nullptr) {
      sk_block<true>(p, b, e);
    } else {
      sk_block<false>(p, b, e);
    }
  }
}

}  // namespace FP_ISA_NS
}  // namespace cpu
}  // namespace fastprune
