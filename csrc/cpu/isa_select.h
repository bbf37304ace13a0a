// Picking a kernel's per-instruction-set variant: the one for the ISA select_token_kernel() chose
// (FASTPRUNE_CPU_ISA, else the best this CPU supports), with variants not compiled in passed as null.
#pragma once

#include <cstring>

#include "boundary_stats_cpu.h"

#if defined(FASTPRUNE_HAVE_X86_64_V3)
#define FASTPRUNE_IF_V3(fn) (&fn)
#else
#define FASTPRUNE_IF_V3(fn) nullptr
#endif
#if defined(FASTPRUNE_HAVE_X86_64_V4)
#define FASTPRUNE_IF_V4(fn) (&fn)
#else
#define FASTPRUNE_IF_V4(fn) nullptr
#endif

namespace fastprune {
namespace cpu {

template <typename Fn>
Fn isa_variant(Fn baseline, Fn x86_64_v3, Fn x86_64_v4) {
  const char* isa = select_token_kernel().isa;
  if (x86_64_v4 != nullptr && std::strcmp(isa, "x86-64-v4") == 0) return x86_64_v4;
  if (x86_64_v3 != nullptr && std::strcmp(isa, "x86-64-v3") == 0) return x86_64_v3;
  return baseline;
}

}  // namespace cpu
}  // namespace fastprune
