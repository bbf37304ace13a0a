// CPU boundary_stats: the interface between the OpenMP driver (boundary_stats_cpu.cpp) and the per-ISA
// token kernels (boundary_stats_isa.cpp).
//
// Kept free of standard-library headers: the kernels are compiled with different -march flags, and any
// inline library function they instantiated could be shared (one COMDAT copy) with baseline code.
#pragma once

#include <cstdint>

#include "../common/boundary_stats_layout.h"
#include "isa.h"

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

#define FASTPRUNE_DECLARE_TOKEN_KERNEL(ns, name, unused)                                              \
  namespace ns {                                                                                        \
  void accumulate_tokens(const BoundaryStatsProblem& problem, int64_t token_begin, int64_t token_end, \
                         const TokenAccumulators& acc, float* scratch);                                 \
  int64_t scratch_floats(int64_t k, int64_t d);                                                         \
  }
FASTPRUNE_FOR_EACH_ISA(FASTPRUNE_DECLARE_TOKEN_KERNEL, _)

// Writes the packed BoundaryStatsLayout into `out` (2*K*K + 2*K doubles) with the ISA isa.h selects.
// num_threads <= 0 uses the OpenMP default. Throws std::invalid_argument on bad shapes or dtype.
void boundary_stats(const BoundaryStatsProblem& problem, double* out, int num_threads);

}  // namespace cpu
}  // namespace fastprune
