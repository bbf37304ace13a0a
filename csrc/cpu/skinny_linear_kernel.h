// CPU skinny linear: the interface between the OpenMP driver (skinny_linear_cpu.cpp) and the per-ISA row
// kernels (skinny_linear_isa.cpp). Free of standard-library headers for the same reason as
// boundary_stats_kernel.h.
#pragma once

#include <cstdint>

#include "isa.h"

namespace fastprune {
namespace cpu {

// y[m, n] = x[m, :] . w[n, :] (+ bias[n]) for a few rows of x (decode: one row per sequence).
// Gated (w_up set): y[m, n] = silu(x[m] . w[n] + bias[n]) * (x[m] . w_up[n] + bias_up[n]), the SwiGLU
// front half of a Llama MLP in one pass over both weights. All float32; every row has unit stride along k.
struct SkinnyLinearProblem {
  const float* x;
  int64_t x_stride;
  const float* w;
  const float* w_up;  // null unless gated
  int64_t w_stride;   // shared by w and w_up
  const float* bias;  // nullable
  const float* bias_up;  // nullable
  float* y;
  int64_t y_stride;
  int accumulate;  // nonzero: y += the product (a residual connection in place) instead of y = it
  int64_t m;
  int64_t n;
  int64_t k;
};

// Output columns [n_begin, n_end) of every row; the driver hands each thread a disjoint range.
using SkinnyLinearRowsFn = void (*)(const SkinnyLinearProblem& problem, int64_t n_begin, int64_t n_end);

// Rows of w a thread's range is a multiple of (except the last): divisible by every tile height the
// kernels use, so threads never split a tile.
constexpr int64_t kSkinnyRowBlock = 24;

#define FASTPRUNE_DECLARE_SKINNY_KERNEL(ns, name, unused) \
  namespace ns {                                          \
  void skinny_linear_rows(const SkinnyLinearProblem& problem, int64_t n_begin, int64_t n_end); \
  }
FASTPRUNE_FOR_EACH_ISA(FASTPRUNE_DECLARE_SKINNY_KERNEL, _)

// Several products of the same x in one parallel region (a layer's q, k and v projections), optionally
// of RMSNorm(x) instead of x: x_hat = norm_weight * (x * rsqrt(mean(x^2) + eps)), computed once here and
// read by every product. Each problem's x, x_stride, m and k are filled in from `input`. The output
// columns of all problems are split over num_threads (<= 0: the OpenMP default) in whole row blocks.
// Uses the instruction set isa.h selects. Throws std::invalid_argument on bad shapes.
struct SkinnyInput {
  const float* x;
  int64_t x_stride;
  int64_t m;
  int64_t k;
  const float* norm_weight;  // nullable: no RMSNorm
  float eps;
};
void skinny_linear(const SkinnyInput& input, SkinnyLinearProblem* problems, int count, int num_threads);

}  // namespace cpu
}  // namespace fastprune
