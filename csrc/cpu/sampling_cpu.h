// CPU fused sampling: an OpenMP driver over the per-ISA row kernels (sampling_rows.inl).
#pragma once

#include "sampling_kernel.h"

namespace fastprune {
namespace cpu {

// Validates the problem and samples every row (rows spread over num_threads; <= 0: the OpenMP default).
// Throws std::invalid_argument on bad shapes.
void sample(const SampleProblem& problem, int num_threads);

}  // namespace cpu
}  // namespace fastprune
