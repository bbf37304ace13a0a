// CUDA boundary_stats, host-side API (implemented in boundary_stats_cuda.cu, bound in bindings.cpp).
//
// The caller owns all memory: a float32 workspace of workspace_floats(k, grid) for the per-block partial
// sums, and the packed float64 output (common/boundary_stats_layout.h). Both kernels run on `stream`.
#pragma once

#include <cstdint>

#include "../common/boundary_stats_layout.h"

namespace fastprune {
namespace cuda {

// Largest K the kernel accepts: one thread per boundary computes its norms, and a block has at most
// 768 threads (boundary_stats_cuda.cu, kMaxThreads).
constexpr int64_t kMaxBoundaries = 768;

// Blocks to launch for N tokens on a device with `sm_count` multiprocessors (at most N, at least 1).
int64_t grid_size(int64_t k, int64_t n, int64_t sm_count);
int64_t workspace_floats(int64_t k, int64_t grid);

// Throws std::invalid_argument on bad arguments and std::runtime_error on CUDA errors.
void boundary_stats(const BoundaryStatsProblem& problem, double* out, float* workspace, int64_t grid,
                    uintptr_t stream);

}  // namespace cuda
}  // namespace fastprune
