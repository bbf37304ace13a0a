// boundary_stats over a range of tokens, for one instruction set: compiled once per ISA (isa_target.h
// gives FP_ISA_NS and FP_LANES, floats per accumulator vector), with FP_TILE the side of the register tile
// of Gram entries (R x R dot products at once): 3x3 tiles fit 16 registers (9 accumulators plus operands),
// 4x4 tiles the 32 of AVX-512.
//
// Per token t, each of the K rows is either read in place (float32 with D a multiple of the lane count)
// or first widened to float32 into a zero-padded scratch copy, so 16-bit inputs and ragged D reach the
// same branch-free inner loop. Then
//   * the upper triangle of the K x K Gram matrix is computed tile by tile, R x R dot products per pass
//     over D so each loaded vector feeds R FMAs; the R*R vector accumulators are reduced across lanes
//     once per tile and token (reducing after every short chunk cost as much as the dot products);
//   * |h_{k+1} - h_k|^2 is accumulated directly (a Gram-based difference cancels catastrophically for
//     the small residual updates this statistic exists to measure).
// The token's cosines, angles, norms and update ratios are then weighted and added to the caller's
// float64 accumulators. A token's rows (K * D * 4 bytes, 71 KiB for a 30-layer 576-wide model) stay in
// L2 while the tile pairs re-read them.
#include "isa_target.h"

#include "../common/dtype.h"
#include "boundary_stats_kernel.h"

#define FP_TILE (FP_VREGS >= 32 ? 4 : 3)

namespace fastprune {
namespace cpu {
namespace FP_ISA_NS {
namespace {

constexpr int kTile = FP_TILE;
constexpr int kLanes = FP_LANES;
constexpr int64_t kAlignFloats = 16;  // 64 bytes
constexpr float kEps = 1e-8f;
constexpr float kPi = 3.14159265358979323846f;
constexpr float kInvPi = 0.318309886183790671538f;

int64_t round_up(int64_t value, int64_t multiple) { return (value + multiple - 1) / multiple * multiple; }

int64_t padded_rows(int64_t k) { return round_up(k, kTile); }

struct Scratch {
  float* rows;     // [k][d_pad] widened copy of the token (unused when rows are read in place)
  float* zero;     // [d_pad] zeros: the padding rows k..k_pad-1 of the last tile
  float* gram;     // [k_pad][k_pad], only i <= j filled
  float* diff_sq;  // [k_pad] sum_d (h_{k+1} - h_k)^2
  float* denom;    // [k_pad] max(|h_k|, eps)
  float* norm;     // [k_pad] |h_k|
};

Scratch carve(float* base, int64_t k, int64_t d) {
  const int64_t kp = padded_rows(k);
  const int64_t d_pad = round_up(d, kAlignFloats);
  const int64_t vec = round_up(kp, kAlignFloats);
  Scratch s;
  s.rows = base;
  s.zero = s.rows + k * d_pad;
  s.gram = s.zero + d_pad;
  s.diff_sq = s.gram + round_up(kp * kp, kAlignFloats);
  s.denom = s.diff_sq + vec;
  s.norm = s.denom + vec;
  return s;
}

// Where row i of the current token lives: `base + i * pitch` for i < k, else the zero row.
struct Rows {
  const float* base;
  int64_t pitch;
  int64_t k;
  const float* zero;
  const float* operator()(int64_t i) const { return i < k ? base + i * pitch : zero; }
};

// NaN must survive every max/clamp (the caller detects bad batches from NaN outputs), so these are
// written as comparisons that are false for NaN rather than fmaxf/fminf, which drop it.
inline float max_eps(float x) { return x < kEps ? kEps : x; }
inline float clamp_unit(float x) { return x > 1.0f ? 1.0f : (x < -1.0f ? -1.0f : x); }

// arccos by Abramowitz & Stegun 4.4.46 (|error| <= 2e-8 on [0, 1]) with acos(-x) = pi - acos(x).
// A polynomial instead of libm acosf so the angle loop vectorises; Triton uses the same formula.
inline float acos_poly(float x) {
  const float a = x < 0.0f ? -x : x;
  float p = -0.0012624911f;
  p = p * a + 0.0066700901f;
  p = p * a - 0.0170881256f;
  p = p * a + 0.0308918810f;
  p = p * a - 0.0501743046f;
  p = p * a + 0.0889789874f;
  p = p * a - 0.2145988016f;
  p = p * a + 1.5707963050f;
  const float r = __builtin_sqrtf(1.0f - a) * p;
  return x < 0.0f ? kPi - r : r;
}

// Widens token t to float32 in scratch rows of pitch d_pad, zero-filling each row's tail.
void widen_token(const BoundaryStatsProblem& p, int64_t t, int64_t d_pad, float* rows) {
  for (int64_t k = 0; k < p.k; ++k) {
    const int64_t offset = k * p.stride_k + t * p.stride_n;
    float* dst = rows + k * d_pad;
    if (p.dtype == kFloat32) {
      const float* src = static_cast<const float*>(p.hidden) + offset;
#pragma omp simd
      for (int64_t d = 0; d < p.d; ++d) dst[d] = src[d];
    } else if (p.dtype == kBFloat16) {
      const uint16_t* src = static_cast<const uint16_t*>(p.hidden) + offset;
#pragma omp simd
      for (int64_t d = 0; d < p.d; ++d) dst[d] = bf16_to_float(src[d]);
    } else {
      const uint16_t* src = static_cast<const uint16_t*>(p.hidden) + offset;
#pragma omp simd
      for (int64_t d = 0; d < p.d; ++d) dst[d] = fp16_to_float(src[d]);
    }
    for (int64_t d = p.d; d < d_pad; ++d) dst[d] = 0.0f;
  }
}

// gram[i][j] = <row i, row j> for the kTile x kTile block at tile (ti, tj), over len columns
// (a multiple of kLanes). acc[r][s][:] is one vector register per (r, s); the unrolled r/s loops keep
// them all live. Summation is two-level: each kSumBlock-column block is summed in registers and then
// added to `total`, so a lane adds at most 32 terms in a row. That keeps the float32
// Gram error at or below a blocked GEMM's even for D in the thousands (arccos amplifies it).
constexpr int64_t kSumBlock = 32 * kLanes;

void gram_tile(const Rows& rows, int64_t ti, int64_t tj, int64_t len, float* gram, int64_t kp) {
  const float* a[kTile];
  const float* b[kTile];
  for (int r = 0; r < kTile; ++r) {
    a[r] = rows(ti * kTile + r);
    b[r] = rows(tj * kTile + r);
  }
  float total[kTile][kTile][kLanes] = {};
  for (int64_t d0 = 0; d0 < len; d0 += kSumBlock) {
    const int64_t d1 = d0 + kSumBlock < len ? d0 + kSumBlock : len;
    float acc[kTile][kTile][kLanes] = {};
    for (int64_t d = d0; d < d1; d += kLanes) {
#pragma GCC unroll 8
      for (int r = 0; r < kTile; ++r) {
#pragma GCC unroll 8
        for (int s = 0; s < kTile; ++s) {
#pragma omp simd
          for (int l = 0; l < kLanes; ++l) acc[r][s][l] += a[r][d + l] * b[s][d + l];
        }
      }
    }
    for (int r = 0; r < kTile; ++r) {
      for (int s = 0; s < kTile; ++s) {
#pragma omp simd
        for (int l = 0; l < kLanes; ++l) total[r][s][l] += acc[r][s][l];
      }
    }
  }
  for (int r = 0; r < kTile; ++r) {
    for (int s = 0; s < kTile; ++s) {
      float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
      for (int l = 0; l < kLanes; ++l) sum += total[r][s][l];
      gram[(ti * kTile + r) * kp + tj * kTile + s] = sum;
    }
  }
}

void difference_norms_sq(const Rows& rows, int64_t k, int64_t len, float* diff_sq) {
  for (int64_t i = 0; i + 1 < k; ++i) {
    const float* lo = rows(i);
    const float* hi = rows(i + 1);
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t d = 0; d < len; ++d) {
      const float diff = hi[d] - lo[d];
      sum += diff * diff;
    }
    diff_sq[i] = sum;
  }
}

// Turns one token's Gram matrix and difference norms into weighted statistics.
void accumulate_token(const Scratch& s, int64_t k, int64_t kp, float w, const TokenAccumulators& acc) {
  const double wd = w;
  for (int64_t i = 0; i < k; ++i) {
    s.norm[i] = __builtin_sqrtf(s.gram[i * kp + i]);
    s.denom[i] = max_eps(s.norm[i]);
  }
  int64_t row_start = 0;  // packed index of (i, i)
  for (int64_t i = 0; i < k; ++i) {
    // cos(h, h) is 1 by definition; n / n is exactly 1 in IEEE arithmetic (NaN and inf give NaN), so
    // the diagonal angle is exactly 0 instead of the rounding noise of G_ii / n_i^2.
    const float self = s.norm[i] / s.denom[i];
    const float c_ii = clamp_unit(self * self);
    acc.cos[row_start] += wd * c_ii;
    acc.ang[row_start] += wd * (acos_poly(c_ii) * kInvPi);
    const float* g = s.gram + i * kp;
    const float di = s.denom[i];
    double* cos_row = acc.cos + row_start - i;  // cos_row[j] is packed (i, j)
    double* ang_row = acc.ang + row_start - i;
#pragma omp simd
    for (int64_t j = i + 1; j < k; ++j) {
      const float c = clamp_unit(g[j] / (di * s.denom[j]));
      cos_row[j] += wd * c;
      ang_row[j] += wd * (acos_poly(c) * kInvPi);
    }
    row_start += k - i;
  }
  for (int64_t i = 0; i < k; ++i) acc.norm[i] += wd * s.norm[i];
  for (int64_t i = 0; i + 1 < k; ++i) acc.update[i] += wd * (__builtin_sqrtf(s.diff_sq[i]) / s.denom[i]);
  acc.weight[0] += wd;
}

}  // namespace

int64_t scratch_floats(int64_t k, int64_t d) {
  const int64_t kp = padded_rows(k);
  const int64_t d_pad = round_up(d, kAlignFloats);
  return (k + 1) * d_pad + round_up(kp * kp, kAlignFloats) + 3 * round_up(kp, kAlignFloats);
}

void accumulate_tokens(const BoundaryStatsProblem& p, int64_t token_begin, int64_t token_end,
                       const TokenAccumulators& acc, float* scratch) {
  const int64_t k = p.k;
  const int64_t kp = padded_rows(k);
  const int64_t tiles = kp / kTile;
  const Scratch s = carve(scratch, k, p.d);
  const int64_t d_pad = round_up(p.d, kAlignFloats);
  const int64_t len = round_up(p.d, kLanes);  // zero padding makes the lanes past D contribute 0
  for (int64_t i = 0; i < d_pad; ++i) s.zero[i] = 0.0f;
  // float32 rows whose length is a lane multiple are read where they are: no copy, no padding needed.
  const bool in_place = p.dtype == kFloat32 && p.d % kLanes == 0;

  for (int64_t t = token_begin; t < token_end; ++t) {
    Rows rows{s.rows, d_pad, k, s.zero};
    if (in_place) {
      rows.base = static_cast<const float*>(p.hidden) + t * p.stride_n;
      rows.pitch = p.stride_k;
    } else {
      widen_token(p, t, d_pad, s.rows);
    }
    for (int64_t ti = 0; ti < tiles; ++ti) {
      for (int64_t tj = ti; tj < tiles; ++tj) gram_tile(rows, ti, tj, len, s.gram, kp);
    }
    difference_norms_sq(rows, k, len, s.diff_sq);
    accumulate_token(s, k, kp, p.weight[t], acc);
  }
}

}  // namespace FP_ISA_NS
}  // namespace cpu
}  // namespace fastprune
