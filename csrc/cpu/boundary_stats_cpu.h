// CPU boundary_stats: an OpenMP driver (boundary_stats_cpu.cpp) over per-ISA token kernels
// (boundary_stats_tokens.inl, compiled once per instruction set by isa_*.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "../common/boundary_stats_layout.h"
#include "token_kernel.h"

namespace fastprune {
namespace cpu {

// Instruction sets compiled into this module, and the subset this CPU can run (best last).
std::vector<std::string> compiled_isas();
std::vector<std::string> supported_isas();
// The kernel a call uses: FASTPRUNE_CPU_ISA if set (must be supported), else the best supported one.
const TokenKernel& select_token_kernel();

// Writes the packed BoundaryStatsLayout into `out` (2*K*K + 2*K doubles). num_threads <= 0 uses the
// OpenMP default. Throws std::invalid_argument on bad shapes or dtype.
void boundary_stats(const BoundaryStatsProblem& problem, double* out, int num_threads);

}  // namespace cpu
}  // namespace fastprune
