// One decode step of attention for a batch of sequences, each at its own position in a static KV cache:
// per row, RMSNorm of q and k heads (Qwen3's q_norm / k_norm, optional), rotary embedding, the new k and v
// written into the cache at the row's position, then softmax(q k^T * scale) v over the row's visible keys
// (all positions <= its own, or the last `window` of them). Grouped-query heads share their kv head.
//
// The interface between the driver (decode_attention_cpu.cpp) and its per-ISA kernels
// (decode_attention_isa.cpp). Free of standard-library headers for the same reason as boundary_stats_kernel.h.
#pragma once

#include <cstdint>

#include "isa.h"

namespace fastprune {
namespace cpu {

struct DecodeAttentionProblem {
  const float* q;  // row r: heads * head_dim floats at q + r * q_stride
  int64_t q_stride;
  const float* k_new;  // row r: kv_heads * head_dim
  int64_t k_stride;
  const float* v_new;
  int64_t v_stride;
  const float* cos_table;  // [cache_len, head_dim]: row p holds position p's cos
  const float* sin_table;  // [cache_len, head_dim]: sin with the first half negated (rotate_half folded in)
  const float* q_norm;     // nullable [head_dim]
  const float* k_norm;     // nullable [head_dim]
  float norm_eps;
  float* k_cache;  // [>= batch slots, kv_heads, cache_len, head_dim] contiguous; row r is slot r
  float* v_cache;
  int64_t cache_len;
  const int64_t* positions;  // [batch]
  int64_t batch;
  int64_t heads;
  int64_t kv_heads;
  int64_t head_dim;
  int64_t window;  // <= 0: unlimited
  float scale;
  float* out;  // row r: heads * head_dim
  int64_t out_stride;
};

// Validates the problem, then runs every (row, kv head) unit over num_threads (<= 0: the OpenMP default).
// Throws std::invalid_argument on bad shapes or a position outside the cache.
void decode_attention(const DecodeAttentionProblem& problem, int num_threads);

// Floats of scratch one call of the unit kernel needs.
static inline int64_t decode_attention_scratch_floats(const DecodeAttentionProblem& p) {
  const int64_t group = p.heads / p.kv_heads;
  return (2 + 2 * group) * p.head_dim + group * (p.cache_len + 16) + 64;
}

// Row r, kv head g: store the new key and value, then attend every query head of the group.
using DecodeAttentionUnitFn = void (*)(const DecodeAttentionProblem& problem, int64_t r, int64_t g, float* scratch);

#define FASTPRUNE_DECLARE_ATTENTION_KERNEL(ns, name, unused) \
  namespace ns {                                             \
  void decode_attention_unit(const DecodeAttentionProblem& problem, int64_t r, int64_t g, float* scratch); \
  }
FASTPRUNE_FOR_EACH_ISA(FASTPRUNE_DECLARE_ATTENTION_KERNEL, _)

}  // namespace cpu
}  // namespace fastprune
