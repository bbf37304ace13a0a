#include "decode_attention_cpu.h"

#include <stdexcept>
#include <string>

#include "decode_attention_kernel.h"
#include "isa_select.h"
#include "parallel_units.h"

namespace fastprune {
namespace cpu {
namespace {

// Below this many multiply-adds per step, threads cost more than they save.
constexpr int64_t kMinWorkForThreads = 1 << 16;

void validate(const DecodeAttentionProblem& p) {
  if (p.batch < 0 || p.heads < 1 || p.kv_heads < 1 || p.head_dim < 2 || p.head_dim % 2 != 0) {
    throw std::invalid_argument("decode_attention: need batch >= 0, heads and kv_heads >= 1 and an even head_dim");
  }
  if (p.heads % p.kv_heads != 0) {
    throw std::invalid_argument("decode_attention: heads (" + std::to_string(p.heads) +
                                ") must be a multiple of kv_heads (" + std::to_string(p.kv_heads) + ")");
  }
  for (int64_t r = 0; r < p.batch; ++r) {
    if (p.positions[r] < 0 || p.positions[r] >= p.cache_len) {
      throw std::invalid_argument("decode_attention: row " + std::to_string(r) + " position " +
                                  std::to_string(p.positions[r]) + " is outside the cache (length " +
                                  std::to_string(p.cache_len) + ")");
    }
  }
}

DecodeAttentionUnitFn unit_kernel() {
  return isa_variant<DecodeAttentionUnitFn>(&baseline::decode_attention_unit, FASTPRUNE_IF_V3(x86_64_v3::decode_attention_unit),
                                 FASTPRUNE_IF_V4(x86_64_v4::decode_attention_unit));
}

}  // namespace

void decode_attention(const DecodeAttentionProblem& p, int num_threads) {
  validate(p);
  const DecodeAttentionUnitFn kernel = unit_kernel();
  int64_t work = 0;
  for (int64_t r = 0; r < p.batch; ++r) work += (p.positions[r] + 1) * p.heads * p.head_dim * 2;
  const int threads = work < kMinWorkForThreads ? 1 : requested_threads(num_threads);
  for_each_unit(p.batch * p.kv_heads, threads, decode_attention_scratch_floats(p),
                [&](int64_t u, float* scratch) { kernel(p, u / p.kv_heads, u % p.kv_heads, scratch); });
}

}  // namespace cpu
}  // namespace fastprune
