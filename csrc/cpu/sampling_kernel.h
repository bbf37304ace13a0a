// Interface between the sampling driver (sampling_cpu.cpp) and its per-ISA row kernels (sampling_rows.inl).
// Semantics: fastprune/ops/sampling.py (greedy, temperature, top-k and top-p keeping ties, inverse CDF in
// vocabulary order with one uniform per row). Free of standard-library headers (see token_kernel.h).
#pragma once

#include <cstdint>

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

#define FASTPRUNE_DECLARE_SAMPLE_KERNEL(ns) \
  namespace ns {                            \
  void sample_row(const SampleProblem& problem, int64_t row, float* scratch); \
  }

FASTPRUNE_DECLARE_SAMPLE_KERNEL(baseline)
#if defined(FASTPRUNE_HAVE_X86_64_V3)
FASTPRUNE_DECLARE_SAMPLE_KERNEL(x86_64_v3)
#endif
#if defined(FASTPRUNE_HAVE_X86_64_V4)
FASTPRUNE_DECLARE_SAMPLE_KERNEL(x86_64_v4)
#endif

}  // namespace cpu
}  // namespace fastprune
