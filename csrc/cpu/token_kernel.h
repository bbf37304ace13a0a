// Interface between the OpenMP driver and the per-ISA token kernels.
//
// Kept free of standard-library headers: the kernels are compiled with different -march flags, and any
// inline library function they instantiated could be shared (one COMDAT copy) with baseline code.
#pragma once

#include <cstdint>

#include "../common/boundary_stats_layout.h"

namespace fastprune {
namespace cpu {

// Per-thread running sums, all float64. cos/ang hold the upper triangle (i <= j) row by row,
// K*(K+1)/2 entries; update has K-1 entries, weight one.
struct TokenAccumulators {
  double* cos;
  double* ang;
  double* norm;
  double* update;
  double* weight;
};

// One token kernel per instruction set. `scratch` must hold scratch_floats(k, d) floats, 64-byte aligned.
using AccumulateTokensFn = void (*)(const BoundaryStatsProblem& problem, int64_t token_begin, int64_t token_end,
                                    const TokenAccumulators& acc, float* scratch);
using ScratchFloatsFn = int64_t (*)(int64_t k, int64_t d);

struct TokenKernel {
  const char* isa;
  AccumulateTokensFn accumulate;
  ScratchFloatsFn scratch_floats;
};

#define FASTPRUNE_DECLARE_TOKEN_KERNEL(ns)                                                              \
  namespace ns {                                                                                        \
  void accumulate_tokens(const BoundaryStatsProblem& problem, int64_t token_begin, int64_t token_end, \
                         const TokenAccumulators& acc, float* scratch);                                 \
  int64_t scratch_floats(int64_t k, int64_t d);                                                         \
  }

FASTPRUNE_DECLARE_TOKEN_KERNEL(baseline)
#if defined(FASTPRUNE_HAVE_X86_64_V3)
FASTPRUNE_DECLARE_TOKEN_KERNEL(x86_64_v3)
#endif
#if defined(FASTPRUNE_HAVE_X86_64_V4)
FASTPRUNE_DECLARE_TOKEN_KERNEL(x86_64_v4)
#endif

}  // namespace cpu
}  // namespace fastprune
