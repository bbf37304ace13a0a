// Layout of the float64 buffer every native boundary_stats implementation writes.
//
// One flat buffer (instead of five outputs) keeps the pybind11 and torch.library signatures simple;
// fastprune/ops/boundary_stats.py slices it back into BoundaryStats:
//   [ cos_sum K*K | ang_sum K*K | norm_sum K | update_sum K-1 | weight_sum 1 ]   (2*K*K + 2*K values)
// cos_sum and ang_sum are full symmetric row-major matrices.
#pragma once

#include <cstdint>

namespace fastprune {

struct BoundaryStatsLayout {
  int64_t k;
  int64_t cos() const { return 0; }
  int64_t ang() const { return k * k; }
  int64_t norm() const { return 2 * k * k; }
  int64_t update() const { return 2 * k * k + k; }
  int64_t weight() const { return 2 * k * k + 2 * k - 1; }
  int64_t size() const { return 2 * k * k + 2 * k; }
};

// Shape and strides of one boundary_stats call. Strides are in elements; the hidden size axis is
// contiguous (the Python wrapper guarantees it), so it has no stride.
struct BoundaryStatsProblem {
  const void* hidden;    // [K, N, D] of `dtype`
  const float* weight;   // [N], contiguous
  int64_t k, n, d;
  int64_t stride_k, stride_n;
  int dtype;
};

}  // namespace fastprune
