// Interface between the decode-attention driver (decode_attention_cpu.cpp) and its per-ISA kernels
// (decode_attention_rows.inl). Free of standard-library headers for the same reason as token_kernel.h.
#pragma once

#include <cstdint>

#include "decode_attention_cpu.h"

namespace fastprune {
namespace cpu {

// Floats of scratch one call of the unit kernel needs.
static inline int64_t decode_attention_scratch_floats(const DecodeAttentionProblem& p) {
  const int64_t group = p.heads / p.kv_heads;
  return (2 + 2 * group) * p.head_dim + group * (p.cache_len + 16) + 64;
}

// Row r, kv head g: store the new key and value, then attend every query head of the group.
using DecodeAttentionUnitFn = void (*)(const DecodeAttentionProblem& problem, int64_t r, int64_t g, float* scratch);

#define FASTPRUNE_DECLARE_ATTENTION_KERNEL(ns) \
  namespace ns {                               \
  void decode_attention_unit(const DecodeAttentionProblem& problem, int64_t r, int64_t g, float* scratch); \
  }

FASTPRUNE_DECLARE_ATTENTION_KERNEL(baseline)
#if defined(FASTPRUNE_HAVE_X86_64_V3)
FASTPRUNE_DECLARE_ATTENTION_KERNEL(x86_64_v3)
#endif
#if defined(FASTPRUNE_HAVE_X86_64_V4)
FASTPRUNE_DECLARE_ATTENTION_KERNEL(x86_64_v4)
#endif

}  // namespace cpu
}  // namespace fastprune
