#include "decode_attention_cpu.h"

#include "boundary_stats_cpu.h"
#include "decode_attention_kernel.h"

#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

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
  const char* isa = select_token_kernel().isa;
#if defined(FASTPRUNE_HAVE_X86_64_V4)
  if (std::strcmp(isa, "x86-64-v4") == 0) return &x86_64_v4::decode_attention_unit;
#endif
#if defined(FASTPRUNE_HAVE_X86_64_V3)
  if (std::strcmp(isa, "x86-64-v3") == 0) return &x86_64_v3::decode_attention_unit;
#endif
  return &baseline::decode_attention_unit;
}

}  // namespace

void decode_attention(const DecodeAttentionProblem& p, int num_threads) {
  validate(p);
  const int64_t units = p.batch * p.kv_heads;
  if (units == 0) return;
  const DecodeAttentionUnitFn kernel = unit_kernel();
  const int64_t scratch_floats = (decode_attention_scratch_floats(p) + 15) / 16 * 16;
  int64_t work = 0;
  for (int64_t r = 0; r < p.batch; ++r) work += (p.positions[r] + 1) * p.heads * p.head_dim * 2;
#if defined(_OPENMP)
  int threads = num_threads > 0 ? num_threads : omp_get_max_threads();
  if (work < kMinWorkForThreads) threads = 1;
  if (threads > units) threads = static_cast<int>(units);
#else
  const int threads = 1;
  (void)num_threads;
#endif
  std::vector<float> scratch(static_cast<size_t>(scratch_floats * threads));
#if defined(_OPENMP)
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
#endif
  for (int64_t u = 0; u < units; ++u) {
#if defined(_OPENMP)
    float* mine = scratch.data() + omp_get_thread_num() * scratch_floats;
#else
    float* mine = scratch.data();
#endif
    kernel(p, u / p.kv_heads, u % p.kv_heads, mine);
  }
}

}  // namespace cpu
}  // namespace fastprune
