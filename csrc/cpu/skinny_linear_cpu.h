// CPU skinny linear: an OpenMP driver over the per-ISA row kernels (skinny_linear_rows.inl).
#pragma once

#include "skinny_linear_kernel.h"

namespace fastprune {
namespace cpu {

// Several products of the same x in one parallel region (a layer's q, k and v projections), optionally
// of RMSNorm(x) instead of x: x_hat = norm_weight * (x * rsqrt(mean(x^2) + eps)), computed once here and
// read by every product. Each problem's x, x_stride, m and k are filled in from `input`. The output
// columns of all problems are split over num_threads (<= 0: the OpenMP default) in whole row blocks.
// Uses the instruction set select_token_kernel() picks (FASTPRUNE_CPU_ISA, else the best this CPU
// supports). Throws std::invalid_argument on bad shapes.
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
