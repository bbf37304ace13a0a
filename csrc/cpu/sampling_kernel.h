// CPU fused sampling: the interface between the driver (sampling_cpu.cpp) and its per-ISA row kernels
// (sampling_isa.cpp). Semantics: fastprune/ops/sampling.py (greedy, temperature, top-k and top-p keeping
// ties, inverse CDF in vocabulary order with one uniform per row). Free of standard-library headers (see
// boundary_stats_kernel.h).
#pragma once

#include <cstdint>

#include "isa.h"

namespace fastprune {
namespace cpu {

struct SampleProblem {
  const float* logits;  // [rows, vocab], row r at logits + r * row_stride, unit stride along the vocabulary
  int64_t row_stride;
  int64_t rows;
  int64_t vocab;
  const float* temperature;  // [rows]; <= 0: greedy
  const int64_t* top_k;      // [rows]; <= 0 or >= vocab: off
  const float* top_p;        // [rows]; >= 1: off
  const float* uniform;      // [rows] in [0, 1)
  int64_t* out;              // [rows]
  float* kept;               // nullable [rows, vocab]: the kept probabilities (filtered, not renormalised)
};

// Floats of scratch one row needs (the row's exponentials).
static inline int64_t sample_scratch_floats(int64_t vocab) { return vocab + 64; }

using SampleRowFn = void (*)(const SampleProblem& problem, int64_t row, float* scratch);

#define FASTPRUNE_DECLARE_SAMPLE_KERNEL(ns, name, unused) \
  namespace ns {                                          \
  void sample_row(const SampleProblem& problem, int64_t row, float* scratch); \
  }
FASTPRUNE_FOR_EACH_ISA(FASTPRUNE_DECLARE_SAMPLE_KERNEL, _)

// Validates the problem and samples every row (rows spread over num_threads; <= 0: the OpenMP default).
// Throws std::invalid_argument on bad shapes.
void sample(const SampleProblem& problem, int num_threads);

}  // namespace cpu
}  // namespace fastprune
